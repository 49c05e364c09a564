"""A report as plain data (key figures, tables, text) and its CSV, XLSX and PDF renderings.

Bilans and committee packs build a `Report`; the three renderers lay it out the same way. PDF
text uses the built-in Helvetica (WinAnsi encoding: French accents, « », œ and … render; other
symbols are avoided in labels). Suppressed cells travel as text ("< 3", "s") and are left out of
the charts.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from workflows.values import invalid

Value = str | int | float | Decimal | None
NBSP = "\u00a0"


@dataclass
class Table:
    """A titled table; `chart` draws column `chart_column` by the first column ("bar" or "pie")."""

    title: str
    headers: list[str]
    rows: list[list[Value]]
    chart: str | None = None
    chart_column: int = 1
    note: str | None = None


@dataclass
class Report:
    title: str
    subtitle: str = ""
    facts: list[tuple[str, Value]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    sections: list[tuple[str, str]] = field(default_factory=list)
    footnotes: list[str] = field(default_factory=list)


def number(value: Value) -> str:
    """French text of a figure: 1 234,5 (non-breaking space), empty for None."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, int):
        return f"{value:,}".replace(",", NBSP)
    amount = Decimal(str(value)).quantize(Decimal("0.01"))
    text = f"{amount:,.2f}".replace(",", NBSP).replace(".", ",")
    return text.removesuffix(",00")


def _cell(value: Value) -> Any:
    """A spreadsheet value: numbers stay numbers (Decimal as float), the rest as text."""
    if isinstance(value, Decimal):
        return float(value)
    return value


def to_csv(report: Report) -> bytes:
    """Semicolon-separated UTF-8 (with BOM, for spreadsheet software), one block per table."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow([report.title])
    if report.subtitle:
        writer.writerow([report.subtitle])
    writer.writerow([])
    for label, value in report.facts:
        writer.writerow([label, number(value)])
    for table in report.tables:
        writer.writerow([])
        writer.writerow([table.title])
        writer.writerow(table.headers)
        writer.writerows([number(v) for v in row] for row in table.rows)
    for heading, text in report.sections:
        writer.writerow([])
        writer.writerow([heading])
        writer.writerow([text])
    for note in report.footnotes:
        writer.writerow([note])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _sheet_title(title: str, taken: set[str]) -> str:
    base = "".join(c for c in title if c not in "[]:*?/\\")[:28].strip() or "Tableau"
    name, index = base, 2
    while name in taken:
        name, index = f"{base[:25]} {index}", index + 1
    taken.add(name)
    return name


def to_xlsx(report: Report) -> bytes:
    """A workbook: « Synthèse » (figures, text), then one sheet per table with its chart."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, PieChart, Reference
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    sheet.title = "Synthèse"
    sheet.append([report.title])
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.append([report.subtitle])
    sheet.append([])
    for label, value in report.facts:
        sheet.append([label, _cell(value)])
    for heading, text in report.sections:
        sheet.append([])
        sheet.append([heading])
        sheet.append([text])
    for note in report.footnotes:
        sheet.append([note])
    sheet.column_dimensions["A"].width = 60
    taken = {"Synthèse"}
    for table in report.tables:
        ws = book.create_sheet(_sheet_title(table.title, taken))
        ws.append([table.title])
        ws["A1"].font = Font(bold=True)
        ws.append(table.headers)
        for row in table.rows:
            ws.append([_cell(v) for v in row])
        ws.column_dimensions["A"].width = 45
        if table.chart and table.rows:
            chart = PieChart() if table.chart == "pie" else BarChart()
            chart.title = table.title
            last = len(table.rows) + 2
            col = table.chart_column + 1
            chart.add_data(
                Reference(ws, min_col=col, min_row=2, max_row=last), titles_from_data=True
            )
            chart.set_categories(Reference(ws, min_col=1, min_row=3, max_row=last))
            ws.add_chart(chart, f"{chr(ord('A') + len(table.headers) + 1)}2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _chart(table: Table):
    """A reportlab drawing of the table's shown (not suppressed) figures, or None."""
    from reportlab.graphics.charts.barcharts import HorizontalBarChart
    from reportlab.graphics.charts.piecharts import Pie
    from reportlab.graphics.shapes import Drawing
    from reportlab.lib import colors

    points = [
        (str(row[0])[:40], float(row[table.chart_column]))
        for row in table.rows
        if isinstance(row[table.chart_column], int | float | Decimal)
        and row[table.chart_column] > 0
    ]
    if not points:
        return None
    if table.chart == "pie":
        drawing = Drawing(400, 150)
        pie = Pie()
        pie.x, pie.y, pie.width, pie.height = 130, 10, 130, 130
        pie.data = [v for _, v in points]
        pie.labels = [label for label, _ in points]
        pie.slices.strokeColor = colors.white
        for index, colour in enumerate((colors.HexColor("#2a6f97"), colors.HexColor("#e07a5f"))):
            if index < len(points):
                pie.slices[index].fillColor = colour
        drawing.add(pie)
        return drawing
    height = 30 + 18 * len(points)
    drawing = Drawing(460, height)
    bars = HorizontalBarChart()
    bars.x, bars.y, bars.width, bars.height = 190, 10, 250, height - 20
    bars.data = [[v for _, v in points]]
    bars.categoryAxis.categoryNames = [label for label, _ in points]
    bars.categoryAxis.labels.fontName = "Helvetica"
    bars.categoryAxis.labels.fontSize = 7
    bars.valueAxis.valueMin = 0
    bars.valueAxis.labels.fontSize = 7
    bars.bars[0].fillColor = colors.HexColor("#2a6f97")
    drawing.add(bars)
    return drawing


def to_pdf(report: Report) -> bytes:
    """An A4 PDF: title, key figures, each table with its chart, then the text."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, TableStyle
    from reportlab.platypus import Table as PdfTable

    styles = getSampleStyleSheet()
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out, pagesize=A4, title=report.title, author="Clausier", leftMargin=1.8 * cm,
        rightMargin=1.8 * cm, topMargin=1.5 * cm, bottomMargin=1.5 * cm,
    )  # fmt: skip
    grid = TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
            ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef3")),
            ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
            ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
    )
    story: list[Any] = [Paragraph(_escape(report.title), styles["Title"])]
    if report.subtitle:
        story.append(Paragraph(_escape(report.subtitle), styles["Normal"]))
    story.append(Spacer(1, 8))
    if report.facts:
        facts = [[_escape(label), number(value)] for label, value in report.facts]
        story.append(PdfTable(facts, colWidths=[11 * cm, 5 * cm], style=grid))
    for table in report.tables:
        story.append(Paragraph(_escape(table.title), styles["Heading3"]))
        rows = [table.headers, *([number(v) for v in row] for row in table.rows)]
        story.append(PdfTable(rows, style=grid, repeatRows=1, hAlign="LEFT"))
        if table.note:
            story.append(Paragraph(_escape(table.note), styles["Italic"]))
        drawing = _chart(table) if table.chart else None
        if drawing is not None:
            story.append(Spacer(1, 4))
            story.append(drawing)
    for heading, text in report.sections:
        story.append(Paragraph(_escape(heading), styles["Heading3"]))
        for paragraph in (text or "").split("\n\n"):
            story.append(Paragraph(_escape(paragraph).replace("\n", "<br/>"), styles["Normal"]))
    for note in report.footnotes:
        story.append(Paragraph(_escape(note), styles["Italic"]))
    doc.build(story)
    return out.getvalue()


def _escape(text: str) -> str:
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


RENDERERS = {"csv": to_csv, "xlsx": to_xlsx, "pdf": to_pdf}
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}


def render(report: Report, fmt: str) -> bytes:
    """The report as `fmt` bytes ("csv", "xlsx" or "pdf")."""
    if fmt not in RENDERERS:
        raise invalid("format", "valeurs : " + ", ".join(RENDERERS))
    return RENDERERS[fmt](report)
