#!/usr/bin/env python3
"""Writes depenses.xlsx, the Excel fixture of tests/forecast.rs (needs openpyxl).

Monthly spend of two budget lines over three years, three operations a
month, as a treasury exports it: French headers, Excel dates shown day first.
Total of the Montant column: 139080.0.
"""
import datetime

import openpyxl

wb = openpyxl.Workbook()
ws = wb.active
ws.title = "Dépenses"
ws.append(["DATE_OPERATION", "Entité", "Libellé", "Montant"])
for entity, base in [("Santé", 1000.0), ("Éducation", 2500.0)]:
    for y in (2022, 2023, 2024):
        for m in range(1, 13):
            amount = base * (1.8 if m == 12 else 1.0) + 10 * m
            for day, share in [(3, 0.25), (15, 0.5), (27, 0.25)]:
                ws.append([datetime.datetime(y, m, day), entity, "opération", round(amount * share, 2)])
for row in ws.iter_rows(min_row=2, max_col=1):
    row[0].number_format = "dd/mm/yyyy"
wb.save("depenses.xlsx")
