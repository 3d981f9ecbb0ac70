"""Writes the PDF, Word, Excel and PowerPoint files of samples/ (the demo's `tributary ingest samples/`).

Run: PYTHONPATH=. .venv/bin/python -m tests.support.samples
The people, companies and projects are those of the other samples; samples/field-teams.xlsx is mapped by the
`field-teams` rule of shared/ingestion.yaml (sheet People).
"""

from pathlib import Path

from docx.document import Document

from tests.support.office import docx_bytes, pptx, xlsx
from tests.support.pdf import text_pdf

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def osprey_report() -> bytes:
    return text_pdf(
        [
            [
                "Project Osprey - quarterly report, Q1 2024",
                "",
                "Project Osprey maps sediment in the port of Rotterdam with sonar drones. It is led by",
                "Pieter van Dijk at the Harbour Institute, which funds the work with the Port Authority.",
                "In the first quarter the team surveyed 14 km of quay wall and found three sections that",
                "need dredging before the summer. The survey data is shared with Brightwater Labs, whose",
                "Project Heron buoys measure turbidity off Lisbon with the same open data format.",
            ],
            [
                "Budget and staffing",
                "",
                "The Harbour Institute approved a second drone for the Maas estuary. Sipho Dlamini joins",
                "the team from Cape Town in May as field engineer and will report to Pieter van Dijk. The",
                "cost of the new drone is covered by the Verdant Shore Foundation's 2024 grant, which also",
                "funds a data-sharing work-",
                "shop with Brightwater Labs in Lisbon in June.",
            ],
            [
                "Risks",
                "",
                "Ice in the outer harbour damaged two Kestrel drones in Gdansk this winter; Osprey's",
                "drones will not dive when the water is below 2 degrees. Sonar time on the quay walls is",
                "shared with the Port Authority's own surveys and must be booked a month ahead.",
            ],
        ],
        {"Title": "Project Osprey quarterly report Q1 2024", "Author": "Pieter van Dijk"},
        header="HARBOUR INSTITUTE - INTERNAL",
        footer="Page {page} of 3",
    )


def _lumen_plan(document: Document) -> None:
    document.core_properties.title = "Project Lumen pilot plan"
    document.core_properties.author = "Beatriz Araújo"
    document.add_heading("Project Lumen pilot plan", 0)
    document.add_paragraph(
        "Project Lumen brings Coral Ledger's settlement ledger to three cooperatives around São Paulo. "
        "Beatriz Araújo leads the pilot for Coral Ledger Inc."
    )
    document.add_heading("Partners", 1)
    document.add_paragraph(
        "The Verdant Shore Foundation funds the pilot's first year. Brightwater Labs lends two field "
        "engineers for the sensor installation in Santos."
    )
    document.add_heading("Milestones", 1)
    table = document.add_table(rows=4, cols=3)
    for row, values in enumerate(
        [
            ("milestone", "owner", "due"),
            ("Ledger nodes at three cooperatives", "Beatriz Araújo", "2024-06"),
            ("Sensor installation in Santos", "Tomás Ferreira", "2024-08"),
            ("Pilot review with the foundation", "Zoë Okafor", "2024-11"),
        ]
    ):
        for column, value in enumerate(values):
            table.cell(row, column).text = value
    document.add_heading("Open questions", 2)
    document.add_paragraph("Whether the cooperatives in Campinas join in the second year.")


FIELD_TEAMS = {
    "People": [
        ["name", "role", "company", "manager", "city", "since"],
        ["Pieter van Dijk", "Project lead", "Harbour Institute", None, "Rotterdam", 2021],
        ["Sipho Dlamini", "Field engineer", "Harbour Institute", "Pieter van Dijk", "Rotterdam", 2024],
        ["Tomás Ferreira", "Field engineer", "Brightwater Labs", "Zoë Okafor", "Porto", 2022],
        ["Beatriz Araújo", "Pilot lead", "Coral Ledger Inc", None, "São Paulo", 2023],
    ],
    "Notes": [["note"], ["Updated by the programme office after the May steering meeting."]],
}


def kestrel_review() -> bytes:
    return pptx(
        [
            ("Project Kestrel review", ["Nordlicht Robotics GmbH", "Hamburg, May 2024"], "Welcome the observers."),
            (
                "Dives in April",
                ["41 inspection dives in Gdansk against a target of 30", "Two drones damaged by ice"],
                "Hannah Brandt asks whether the ice season can be planned around.",
            ),
            ("Next steps", ["Replace the two drones", "Share dive logs with the Harbour Institute"], ""),
        ]
    )


def main() -> None:
    """Write the four samples."""
    (SAMPLES / "osprey-quarterly-report.pdf").write_bytes(osprey_report())
    (SAMPLES / "lumen-pilot-plan.docx").write_bytes(docx_bytes(_lumen_plan))
    (SAMPLES / "field-teams.xlsx").write_bytes(xlsx(FIELD_TEAMS))
    (SAMPLES / "kestrel-review.pptx").write_bytes(kestrel_review())


if __name__ == "__main__":
    main()
