//! The API's view of alert delivery: silences and the delivery log, served
//! by [`vigie_notify::Notifier`]. A thin adapter, so that the API crate
//! does not depend on the delivery crate (nor the other way round).

use vigie_notify::Notifier;
use vigie_notify::deliver::now_ms;
use vigie_notify::silence::SilenceError;
use vigie_query_api::{Notifications, NotifyFailure};
use vigie_schemas::notify::{DeliveryInfo, DeliveryStatus, Silence, SilenceSpec};

/// [`Notifications`] over a [`Notifier`].
#[derive(Debug, Clone)]
pub struct NotifyApi(pub Notifier);

fn failure(e: SilenceError) -> NotifyFailure {
    match e {
        SilenceError::Invalid(m) => NotifyFailure::Invalid(m),
        e @ SilenceError::Storage { .. } => NotifyFailure::Unavailable(e.to_string()),
    }
}

impl Notifications for NotifyApi {
    fn silences(&self, tenant: &str) -> Vec<Silence> {
        self.0.silences().list(tenant, now_ms())
    }

    fn add_silence(&self, tenant: &str, spec: SilenceSpec) -> Result<Silence, NotifyFailure> {
        self.0.silences().add(tenant, spec, now_ms()).map_err(failure)
    }

    fn expire_silence(&self, tenant: &str, id: &str) -> Result<bool, NotifyFailure> {
        self.0.silences().expire(tenant, id, now_ms()).map_err(failure)
    }

    fn deliveries(
        &self,
        tenant: &str,
        status: Option<DeliveryStatus>,
        before: Option<u64>,
        limit: usize,
    ) -> Vec<DeliveryInfo> {
        self.0.deliveries(tenant, status, before, limit)
    }
}
