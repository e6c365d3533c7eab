"""The real-document corpus (tests/data/real) through the rules-only pipeline with layout.

bench/structure.py prints the full table, with the peers; here the corpus holds the line:
no category of pages scores below plain pypdf, and each kind of first-page and cover
furniture the structure stage knows is removed on the real page it was found on. Each
case is read once (module fixture): about ten seconds for the 74 pages.
"""

from __future__ import annotations

import pytest

from bench.olmocr_tests import load_tests
from bench.structure import evaluate, extract_pypdf
from pipeline import RunFinished, Settings, run
from tests.structure_set import REAL_CASES, build_set


def _ours(pdf: bytes) -> str:
    return next(e.text for e in run(pdf, Settings(use_llm=False)) if isinstance(e, RunFinished))


@pytest.fixture(scope="module")
def corpus():
    return build_set(list(REAL_CASES))


@pytest.fixture(scope="module")
def ours(corpus):
    return {case.name: _ours(case.pdf) for case in corpus}


def test_no_category_is_below_plain_pypdf(corpus, ours):
    by_pdf = {case.pdf: ours[case.name] for case in corpus}
    mine, plain = evaluate(corpus, by_pdf.__getitem__), evaluate(corpus, extract_pypdf)

    def rate(passed_total):
        return passed_total[0] / passed_total[1]

    assert set(mine["groups"]) == set(plain["groups"]) and len(mine["groups"]) >= 8
    below = {group: (counts, plain["groups"][group]) for group, counts in mine["groups"].items()
             if rate(counts) < rate(plain["groups"][group])}
    assert not below, below
    assert mine["pooled"] > plain["pooled"] + 0.3, (mine["pooled"], plain["pooled"])


# One real page for each kind of furniture: (kind, case, the case's test that says it is gone,
# or that what must stay is there).
FURNITURE = [
    ("journal volume line", "tugboat_2023_ltubguid_p1-2", "volume_header_absent"),
    ("proceedings header", "asmeconf_2022_template_p1-2", "proceedings_header_absent"),
    ("received and published dates", "mdpi_curroncol_2023_ki67_p1_p5", "received_date_absent"),
    ("a sidebar's dates, a label and a date a line", "scirep_2015_ion_crystal_p1-2", "published_date_absent"),
    ("reprint notice with a pointer", "coverpage_2006_eccv_sample_p1-2", "in_proceedings_absent"),
    ("cover sheet's citation", "coverpage_2006_eccv_sample_p1-2", "bibtex_booktitle_absent"),
    ("cover sheet's phone and fax", "coverpage_2006_eccv_sample_p1-2", "phone_fax_absent"),
    ("society permission block", "acmart_2022_sigconf_sample_p1-2", "permission_block_absent"),
    ("copyright line with code and price", "acmart_2022_sigconf_sample_p1-2", "copyright_line_absent"),
    ("copyright notice", "mnras_2020_latex_guide_p1-2", "copyright_absent"),
    ("preprint server stamp", "chemrxiv_2025_silyl_dienol_p1", "stamp_not_peer_reviewed_absent"),
    ("page number", "bmc_jner_2016_fes_p1-2", "page_number_absent"),
    ("running head of authors' names", "aastex_2021_sample631_p1-2", "running_head_absent"),
    ("running head of authors' names, with a venue", "acmart_2022_sigconf_sample_p1-2", "running_header_authors_absent"),
    ("running foot of authors' names", "tugboat_2023_ltubguid_p1-2", "running_author_absent"),
    ("author line under a title at the body's size", "tugboat_2023_ltubguid_p1-2", "author_line_absent"),
    ("a thesis title page's degree statement", "unswcover_2011_thesis_front_p1-3-5", "degree_absent"),
    ("a thesis title page's date", "unswcover_2011_thesis_front_p1-3-5", "date_absent"),
    ("a thesis's required statements", "unswcover_2011_thesis_front_p1-3-5", "originality_declare_absent"),
    ("a thesis's copyright statement", "unswcover_2011_thesis_front_p1-3-5", "copyright_grant_absent"),
    ("a report cover's contract line", "nasa_cr111515_1970_igniter_report_p1-3", "contract_line_absent"),
    ("a report cover's 'Prepared for'", "nasa_cr111515_1970_igniter_report_p1-3", "prepared_for_absent"),
    ("a report cover keeps its title", "nasa_cr111515_1970_igniter_report_p1-3", "title_present"),
    ("a report series line", "nasa_rp1311_1996_cea_manual_p1_p7_p9", "series_absent"),
    ("a report cover's author", "nasa_rp1311_1996_cea_manual_p1_p7_p9", "author_absent"),
]


@pytest.mark.parametrize("kind, case, test_id", FURNITURE, ids=[k for k, _, _ in FURNITURE])
def test_first_page_and_cover_furniture_is_removed(corpus, ours, kind, case, test_id):
    (record,) = [t for c in corpus if c.name == case for t in c.tests if t["id"] == f"{case}_{test_id}"]
    (test,) = load_tests([record])
    passed, why = test.run(ours[case])
    assert passed, f"{kind}: {why}"
