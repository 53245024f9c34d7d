//! The engine snapshot reader: any payload (the checksum already passed)
//! decodes to a state the engine accepts or refuses with an error, never a
//! panic, and an accepted state runs.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_processors::engine::EngineState;
use vigie_processors::{Engine, EngineConfig, Outputs};

fuzz_target!(|data: &[u8]| {
    let Ok(state) = postcard::from_bytes::<EngineState>(data) else { return };
    let Ok(mut engine) = Engine::from_state(state, EngineConfig::default()) else { return };
    // A restored engine must take events without panicking.
    let mut out = Outputs::default();
    engine.process_batch(&[], &mut out);
    let _ = postcard::to_stdvec(&engine);
});
