"""Tests for pipeline.patterns: citations, footnote marks and furniture lines, with
positives and the body sentences that must not match."""

from __future__ import annotations

import pytest

from pipeline import patterns
from pipeline.patterns import is_furniture_line, remove_citations, remove_footnote_marks


@pytest.mark.parametrize(
    "text, cleaned, removed",
    [
        ("as shown [12].", "as shown.", ["[12]"]),
        ("methods [3, 5–7] and [3-5,8] work", "methods and work", ["[3, 5–7]", "[3-5,8]"]),
        ("models (Smith et al., 2020), which", "models, which", ["(Smith et al., 2020)"]),
        ("pre-training (Peters et al., 2018a; Radford et al., 2018) helps",
         "pre-training helps", ["(Peters et al., 2018a; Radford et al., 2018)"]),
        ("as before (Smith and Jones, 2020).", "as before.", ["(Smith and Jones, 2020)"]),
        ("many (e.g., Smith et al., 2020) do", "many do", ["(e.g., Smith et al., 2020)"]),
        ("Smith et al. (2020) show", "Smith et al. show", ["(2020)"]),
        ("Smith and Jones (2020a) show", "Smith and Jones show", ["(2020a)"]),
        ("KD (Gou et al., 2021; Wei et al., 2022a,b; Xu, 2024).", "KD.",
         ["(Gou et al., 2021; Wei et al., 2022a,b; Xu, 2024)"]),
        ("models(Gouetal.,2021;GuptaandAgrawal,2022).Knowledge", "models.Knowledge",
         ["(Gouetal.,2021;GuptaandAgrawal,2022)"]),
        # A citation that starts the next column: the stop goes back to its sentence.
        ("with the same image\n\n[1]. There are", "with the same image. There are", ["[1]"]),
        ("as shown [12]\n\nNext paragraph", "as shown\n\nNext paragraph", ["[12]"]),
    ],
)
def test_citations_go(text, cleaned, removed):
    assert remove_citations(text) == (cleaned, removed)


@pytest.mark.parametrize(
    "text",
    [
        "the [equation] holds",
        "(see Section 3) and Eq. (2) give",
        "as in (3), the loss",
        "the models of (2020) in prose",
        "released in 2020 and",
        "1. First item\n2. Second item",
        "a list [a] of letters",
        "costs (in 2020 dollars) rose",
    ],
)
def test_what_is_not_a_citation_stays(text):
    assert remove_citations(text) == (text, [])


def test_footnote_marks():
    assert remove_footnote_marks("proprietary¹ models† and x² in GPT-4") == (
        "proprietary models and x² in GPT-4", ["¹", "†"])
    assert remove_footnote_marks("Xu‡, models*, **bold** and m² a*b") == (
        "Xu‡, models, **bold** and m² a*b", ["*"])
    assert remove_footnote_marks("proprietary1 Large layer") == ("proprietary1 Large layer", [])
    assert remove_footnote_marks("proprietary1 Large", plain_digits=True) == (
        "proprietary Large", ["1"])
    assert remove_footnote_marks("GPT-4 and Claude2 run", plain_digits=True)[1] == []


@pytest.mark.parametrize(
    "line, kind",
    [
        ("12", "page number"),
        ("Page 3 of 9", "page number"),
        ("iv", "page number"),
        ("arXiv:2402.13116v3 [cs.CL] 8 Mar 2024", "stamp"),
        ("4202 tcO 12 ]LC.sc[ 4v61131.2042:viXra", "stamp"),
        ("Journal of Machine Learning Research 24 (2023) 1-48", "journal"),
        ("Vol. 12, No. 3, Article 45", "journal"),
        ("Proceedings of the 2023 Conference on Empirical Methods, pages 1–10", "journal"),
        ("Nature Communications | www.nature.com/naturecommunications", "journal"),
        ("Downloaded from https://academic.oup.com/bib/article/25/1 by guest on 12 May 2024",
         "download"),
        ("Download date: 12/05/2024", "download"),
        ("Published by Elsevier B.V.", "published"),
        ("Published online: 3 March 2023", "published"),
        ("https://doi.org/10.1145/3442188.3445922", "doi"),
        ("doi:10.1000/xyz123", "doi"),
        ("© 2023 The Authors", "copyright"),
        ("Copyright © 2024 ACM", "copyright"),
        ("All rights reserved.", "copyright"),
        ("Preprint. Under review.", "preprint"),
        ("This work is licensed under a Creative Commons Attribution 4.0 International License.",
         "license"),
        ("Received 12 March 2023; accepted 5 June 2023", "dates"),
        ("{shawnxxh,chongyangtao,hishentao}@gmail.com {minglii,tianyi}@umd.edu", "email"),
        ("ckcheng@cs.hku.hk jl0725@connect.hku.hk", "email"),
    ],
)
def test_furniture_lines(line, kind):
    assert is_furniture_line(line) == kind


@pytest.mark.parametrize(
    "line",
    [
        "We follow the approach published by Smith and colleagues in their study.",
        "The code is at https://doi.org/10.1145/3442188 and we thank the reviewers for it.",
        "Results in the Journal of Machine Learning Research 24 (2023) 1-48 show that KD works.",
        "All models were received well by the community, as Table 3 shows.",
        "This survey is licensed to nobody; we discuss licences of LLMs in Section 7.",
        "In 2023 the volume of work on distillation grew.",
        "A Survey on Knowledge Distillation of Large Language Models",
        "1 INTRODUCTION",
        "Contact the authors for the data, which they will share on request.",
        "",
    ],
)
def test_body_lines_are_not_furniture(line):
    assert is_furniture_line(line) is None


@pytest.mark.parametrize("line,kind", [
    ("Last updated 2020 June 10; in original form 2013 September 5", "dates"),
    ("Received 3 November 2014", "dates"),
    ("Accepted: March 5, 2021", "dates"),
    ("Proceedings of the ASME 2023", "journal"),
    ("in: Proceedings European Conference on Computer Vision 2006. See also BibTEX entry below.", "journal"),
    ("We received the data in March 2020 and accepted it after a check.", None),
    ("The proceedings of the 2023 meeting were long.", None),
])
def test_dates_and_venue_lines(line, kind):
    assert patterns.is_furniture_line(line) == kind


@pytest.mark.parametrize("line", [
    "Department of Physics, ETH Zurich, 8093 Zurich, Switzerland",
    "aDepartment of Physics, J.K. Institute of Science, Jawahar Nagar, Trivandrum, 695013, Kerala, India",
    "Covestro Deutschland AG, Kaiser-Wilhelm-Allee 60, 51373 Leverkusen, Germany",
    "* Correspondence: hala.faragalla@unityhealth.to",
    "{matthias.muehlich,til.aach}@lfb.rwth-aachen.de",
])
def test_front_matter_lines(line):
    assert patterns.is_front_matter_line(line)


@pytest.mark.parametrize("line", [
    "The University of Toronto study found that, in 2020, most participants agreed.",
    "Knowledge distillation transfers what a teacher knows, and the student keeps most of it.",
])
def test_sentences_are_not_front_matter(line):
    assert not patterns.is_front_matter_line(line)
