"""The personal library and the recommender: import matching, round-trip export, the exclusions (nothing
seen twice), two interests in one list, "less like this", and that private signals stay private.

Real papers and real vectors (personal_support), real databases; the web parts go through the app.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from mail_support import SmtpServer
from paperboy.cli import app
from paperboy.clock import utcnow
from paperboy.config import Settings
from paperboy.db.engine import transaction
from paperboy.db.models import Collection, Delivery, ExternalPaper, Paper, SentPaper, Subscription, Vote
from paperboy.db.repositories.library import (
    default_collection,
    delete_account,
    preferences,
    save_paper,
    set_note,
)
from paperboy.digest.outbox import DigestSender
from paperboy.digest.service import DigestService
from paperboy.digest.subscriptions import SubscriptionRequest, Topics
from paperboy.personal.citations import (
    CitationError,
    parse,
    parse_bibtex,
    parse_csl_json,
    parse_ris,
    to_bibtex,
    write,
)
from paperboy.personal.library import collection_citations, import_citations
from paperboy.personal.portable import export_profile, import_profile
from paperboy.personal.profile import load_profile
from paperboy.personal.rankers import INTEREST_THRESHOLD, MAX_INTERESTS, find_interests, unit_rows
from paperboy.personal.recommender import Window, WindowError, recommend
from paperboy.personal.signals import set_paper_signal, switch_interest_off, switch_interest_on
from personal_support import add_user, by_category, load_library, upvote, user
from search_support import MemoizingEmbedder
from web_support import make_client, sign_up

WINDOW = Window(date(2023, 1, 1), date(2026, 1, 1))
BEFORE = datetime(2023, 6, 1)


@pytest.fixture
def library(sessions: sessionmaker[Session], shared_data: Path, embedder: MemoizingEmbedder) -> list[Paper]:
    return load_library(sessions, shared_data, embedder)


# --- reference files ------------------------------------------------------------------------------------

BIB = r"""
% exported by Zotero
@string{neurips = "Advances in Neural Information Processing Systems"}
@article{piet2023mark,
  title = {Mark My Words: Analyzing and Evaluating Language Model Watermarks},
  author = {Piet, Julien and Sitawarin, Chawin and others},
  year = {2023},
  eprint = {2312.00273v3},
  archivePrefix = {arXiv},
}
@inproceedings{byurl,
  title = "{A} paper found by its URL",
  author = {M{\"u}ller, J{\'e}r{\^o}me},
  booktitle = neurips,
  url = {https://arxiv.org/abs/ARXIV_URL_ID},
  year = 2024
}
@misc{outside,
  title = {Attention Is All You Need},
  author = {Vaswani, Ashish and Shazeer, Noam},
  year = {2017},
  doi = {10.48550/arXiv.1706.03762},
  abstract = {The dominant sequence transduction models are based on complex recurrent or convolutional neural networks.},
}
@book{noabstract, title = {A Book Without an Abstract}, author = {Knuth, Donald}, year = {1968}}
@misc{nothing, note = {no title at all}}
"""


def test_bibtex_entries_match_by_arxiv_id_url_and_doi_and_a_second_import_changes_nothing(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    by_url = library[5]
    text = BIB.replace("ARXIV_URL_ID", by_url.arxiv_id)
    citations = parse_bibtex(text, "library.bib")
    assert [c.key for c in citations] == ["piet2023mark", "byurl", "outside", "noabstract", "nothing"]
    assert citations[1].authors == ("Jérôme Müller",) and citations[1].venue.startswith("Advances")
    assert citations[0].arxiv_id == "2312.00273" and citations[2].arxiv_id == "1706.03762"
    uid = add_user(sessions, "reader")
    with transaction(sessions) as session:
        collection = default_collection(session, uid)
        report = import_citations(session, collection, citations, "bibtex", embedder)
    outcomes = [(line.outcome, line.line) for line in report.lines]
    assert outcomes == [("matched", 4), ("matched", 11), ("seed", 18), ("kept", 25), ("skipped", 26)], (
        outcomes
    )
    assert "arXiv id 2312.00273" in report.lines[0].detail
    assert "no title, DOI or arXiv id" in report.lines[4].detail
    with sessions() as session:
        entries = session.scalars(select(ExternalPaper).order_by(ExternalPaper.id)).all()
        assert [(e.title, e.vector is not None) for e in entries] == [
            ("Attention Is All You Need", True),
            ("A Book Without an Abstract", False),
        ]
    with transaction(sessions) as session:  # the same file again: nothing new
        collection = default_collection(session, uid)
        again = import_citations(session, collection, citations, "bibtex", embedder)
    assert [line.outcome for line in again.lines] == ["already", "already", "already", "already", "skipped"]
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(ExternalPaper)) == 2


def test_ris_and_csl_json_are_read_and_bad_files_name_the_line() -> None:
    ris = "TY  - JOUR\nTI  - Some title\nAU  - Doe, Jane\nPY  - 2024\nUR  - https://arxiv.org/abs/2401.00001v2\nAB  - An abstract\nER  - \n"
    [entry] = parse_ris(ris, "x.ris")
    assert (entry.title, entry.authors, entry.year, entry.arxiv_id) == (
        "Some title",
        ("Jane Doe",),
        2024,
        "2401.00001",
    )
    csl = json.dumps(
        [
            {
                "id": "a",
                "type": "article",
                "title": "T",
                "number": "arXiv:2106.09685",
                "DOI": "10.48550/arXiv.2106.09685",
                "author": [{"family": "Hu", "given": "Edward"}],
                "issued": {"date-parts": [[2021]]},
            }
        ]
    )
    [item] = parse_csl_json(csl, "x.json")
    assert (item.arxiv_id, item.authors, item.year) == ("2106.09685", ("Edward Hu",), 2021)
    with pytest.raises(CitationError, match=r"x.bib, line 3: .*not closed"):
        parse_bibtex("\n\n@article{k,\n title = {open\n", "x.bib")
    with pytest.raises(CitationError, match=r"x.ris, line 2: not an RIS line"):
        parse_ris("TY  - JOUR\nthis is not ris\n", "x.ris")
    with pytest.raises(CitationError, match=r"x.ris, line 1: .*ER  - is missing"):
        parse_ris("TY  - JOUR\nTI  - t\n", "x.ris")
    with pytest.raises(CitationError, match=r"x.json, line 1 column 3"):
        parse_csl_json("[{", "x.json")


def test_export_round_trips_through_bibtex_ris_and_csl_json(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    uid = add_user(sessions, "exporter")
    tricky = library[3]
    with transaction(sessions) as session:
        session.get(Paper, tricky.id).title = "Braces {and} 50% & under_scores: a \\LaTeX test"  # type: ignore[union-attr]
    with transaction(sessions) as session:
        collection = default_collection(session, uid)
        import_citations(
            session,
            collection,
            parse_bibtex(BIB.replace("ARXIV_URL_ID", tricky.arxiv_id)),
            "bibtex",
            embedder,
        )
    with sessions() as session:
        collection = session.scalars(select(Collection)).one()
        citations = collection_citations(session, collection)

    for format in ("bibtex", "ris", "csl-json"):
        back = parse(write(citations, format), format, f"export.{format}")
        assert [(c.title, c.arxiv_id, c.doi) for c in back] == [
            (c.title, c.arxiv_id, c.doi) for c in citations
        ], format
        assert [c.authors for c in back] == [c.authors for c in citations], format
    assert "Braces \\{and\\} 50\\% \\& under\\_scores: a \\textbackslash{}LaTeX" in to_bibtex(citations)


# --- the recommender ------------------------------------------------------------------------------------


def test_a_two_topic_reader_gets_both_topics_and_never_what_they_already_saw(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    robotics, language = by_category(library, "cs.RO"), by_category(library, "cs.CL")
    uid = add_user(sessions, "twotopics")
    upvote(sessions, uid, robotics[:8] + language[:4], BEFORE)
    with transaction(sessions) as session:
        collection = default_collection(session, uid)
        save_paper(session, collection, robotics[8].id)
        set_paper_signal(session, user(session, uid), robotics[9], "dismissed")
        subscription = Subscription(
            email="twotopics@example.org",
            user_id=uid,
            frequency="daily",
            status="active",
            categories=[],
            keywords=[],
            authors=[],
            excluded_keywords=[],
        )
        session.add(subscription)
        session.flush()
        delivery = Delivery(subscription_id=subscription.id, period="2025-01-01", status="sent")
        session.add(delivery)
        session.flush()
        session.add(
            SentPaper(
                subscription_id=subscription.id,
                paper_id=robotics[10].id,
                delivery_id=delivery.id,
                sent_at=BEFORE,
            )
        )
    with sessions() as session:
        result = recommend(session, user(session, uid), embedder.name, WINDOW, limit=10)
    categories = [item.paper.primary_category for item in result.items]
    assert len(result.items) == 10
    assert categories.count("cs.RO") >= 2 and categories.count("cs.CL") >= 2, categories
    seen = {p.id for p in robotics[:11] + language[:4]}
    assert not seen & {item.paper.id for item in result.items}
    assert all(item.reasons for item in result.items)
    assert any(
        r.kind == "similar" and r.text.startswith("Close to “") for item in result.items for r in item.reasons
    )
    labels = [i.label for i in result.profile.interests]
    assert len(labels) >= 2, labels


def test_less_like_this_takes_effect_at_the_next_request(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    robotics = by_category(library, "cs.RO")
    uid = add_user(sessions, "narrowing")
    upvote(sessions, uid, robotics[:6], BEFORE)
    with sessions() as session:
        first = recommend(session, user(session, uid), embedder.name, WINDOW, limit=10)
    top = first.items[0].paper
    with transaction(sessions) as session:
        set_paper_signal(session, user(session, uid), session.get(Paper, top.id), "dismissed")  # type: ignore[arg-type]
    with sessions() as session:
        second = recommend(session, user(session, uid), embedder.name, WINDOW, limit=10)
    assert top.id not in {item.paper.id for item in second.items}
    assert [i.paper.id for i in second.items] != [i.paper.id for i in first.items]


def test_a_cold_start_from_categories_and_from_nothing(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    uid = add_user(sessions, "newcomer")
    with sessions() as session:
        nothing = recommend(session, user(session, uid), embedder.name, WINDOW)
    assert nothing.items == [] and "Upvote, save or import" in nothing.notes[0]
    with transaction(sessions) as session:
        prefs = preferences(session, uid, create=True)
        prefs.categories = ["cs.CL"]  # type: ignore[union-attr]
    with sessions() as session:
        cold = recommend(session, user(session, uid), embedder.name, WINDOW, limit=5)
    assert [i.paper.primary_category for i in cold.items] == ["cs.CL"] * 5
    assert all("a category you chose" in i.reasons[0].text for i in cold.items)


# --- the profile ----------------------------------------------------------------------------------------


def test_the_profile_export_restores_into_a_new_account_and_deleting_the_account_deletes_it_all(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    uid = add_user(sessions, "mover")
    upvote(sessions, uid, library[:2], BEFORE)
    with transaction(sessions) as session:
        me = user(session, uid)
        collection = default_collection(session, uid)
        import_citations(
            session,
            collection,
            parse_bibtex(BIB.replace("ARXIV_URL_ID", library[7].arxiv_id)),
            "bibtex",
            embedder,
        )
        set_note(session, uid, library[7].id, "read section 3 again")
        set_paper_signal(session, me, library[8], "seed")
        set_paper_signal(session, me, library[9], "dismissed")
        exported = export_profile(session, me)
    document = json.loads(json.dumps(exported))  # what a file holds
    with transaction(sessions) as session:
        delete_account(session, user(session, uid))
    with sessions() as session:
        for table in (Collection, ExternalPaper):
            assert session.scalar(select(func.count()).select_from(table)) == 0
    other = add_user(sessions, "arrived")
    with transaction(sessions) as session:
        report = import_profile(session, user(session, other), document)
    assert report.restored["saved papers"] == 2 and report.restored["imported entries"] == 2, report.restored
    with transaction(sessions) as session:
        again = import_profile(session, user(session, other), document)
        restored = export_profile(session, user(session, other))
    assert again.summary == "Restored nothing new"
    for section in ("notes", "signals", "upvotes"):
        assert restored[section] and [
            {k: v for k, v in i.items() if k != "at"} for i in restored[section]
        ] == [{k: v for k, v in i.items() if k != "at"} for i in document[section]], section
    assert (
        restored["collections"][0]["entries"][0]["vector"]
        == document["collections"][0]["entries"][0]["vector"]
    )


# --- the web, and what stays private --------------------------------------------------------------------


def test_import_for_you_less_like_this_export_on_the_web_and_private_signals_stay_private(
    settings: Settings, sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    robotics = by_category(library, "cs.RO")
    with make_client(settings, embedder) as client:
        token = sign_up(client, "webreader")
        bib = "\n".join(
            f"@article{{r{n}, title = {{{p.title}}}, eprint = {{{p.arxiv_id}}}, archivePrefix = {{arXiv}}}}"
            for n, p in enumerate(robotics[:6])
        )
        response = client.post(
            "/library/import",
            data={"csrf_token": token},
            files={"file": ("zotero.bib", bib.encode(), "application/x-bibtex")},
        )
        assert response.status_code == 200, response.text[:500]
        assert "6 matched library papers" in response.text
        page = client.get("/for-you", params={"since": "2023-01-01", "until": "2026-01-01"})
        assert page.status_code == 200
        assert "Why:" in page.text and "Close to “" in page.text
        first = page.text.split('id="paper-', 2)[1].split('"', 1)[0]
        response = client.post(
            f"/papers/{first}/signal",
            data={
                "csrf_token": token,
                "kind": "dismissed",
                "next": "/for-you?since=2023-01-01&until=2026-01-01",
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        after = client.get("/for-you", params={"since": "2023-01-01", "until": "2026-01-01"})
        assert f'id="paper-{first}"' not in after.text
        client.post(
            f"/papers/{robotics[0].arxiv_id}/note", data={"csrf_token": token, "body": "SECRET-NOTE-42"}
        )
        exported = client.get("/library/export.bib")
        assert exported.headers["content-type"].startswith("application/x-bibtex")
        assert {c.arxiv_id for c in parse_bibtex(exported.text)} == {p.arxiv_id for p in robotics[:6]}
        profile = client.get("/library/profile.json").json()
        assert (
            profile["notes"][0]["body"] == "SECRET-NOTE-42" and profile["signals"][0]["kind"] == "dismissed"
        )
        interests = client.get("/interests")
        assert "SECRET" not in interests.text and robotics[0].title[:30] in interests.text
        feed_url = interests.text.split('class="feed-url" readonly value="', 1)[1].split('"', 1)[0]
        with sessions() as session:
            collection_id = session.scalars(select(Collection.id)).one()
    with make_client(settings, embedder) as stranger:  # signed out: nothing private shows anywhere
        assert stranger.get(f"/collections/{collection_id}").status_code == 404
        assert stranger.get(f"/collections/{collection_id}/export.bib").status_code == 404
        profile_page = stranger.get("/users/webreader").text
        paper_page = stranger.get(f"/papers/{robotics[0].arxiv_id}").text
        for text in (profile_page, paper_page, stranger.get("/feeds/trending.atom").text):
            assert "SECRET-NOTE-42" not in text and "Reading list" not in text
        feed = stranger.get(feed_url.split("://", 1)[1].split("/", 1)[1].join(["/", ""]))
        assert feed.status_code == 200 and "<entry>" in feed.text and first not in feed.text
        wrong = feed_url.rsplit("/", 1)[0] + "/" + "0" * 40 + ".atom"
        assert stranger.get("/" + wrong.split("://", 1)[1].split("/", 1)[1]).status_code == 404
        assert stranger.get("/for-you", follow_redirects=False).status_code in (302, 303)


def test_a_digest_over_real_smtp_has_a_for_you_section_with_reasons(
    mail_settings: Settings,
    sessions: sessionmaker[Session],
    library: list[Paper],
    embedder: MemoizingEmbedder,
    smtp: SmtpServer,
) -> None:
    robotics = by_category(library, "cs.RO")
    uid = add_user(sessions, "digester")
    upvote(sessions, uid, robotics[:6], BEFORE)
    request = SubscriptionRequest("digester@example.org", topics=Topics(keywords=("astronomy",)))
    DigestService(mail_settings, sessions).subscribe_confirmed(request)
    now = utcnow()
    summary = DigestSender(mail_settings, sessions, embedder, now=now).run("daily")
    assert (summary.sent, summary.failed) == (1, 0)
    [received] = smtp.received
    text = received.part("plain")
    assert "New for you" in text and "Close to “" in text, text[:2000]
    with sessions() as session:
        delivery = session.scalars(select(Delivery)).one()
        mine = [pid for pid, _ in delivery.chosen["for_you"]]  # type: ignore[index]
        categories = [session.get(Paper, pid).primary_category for pid in mine]  # type: ignore[union-attr]
    assert mine and categories.count("cs.RO") > len(mine) / 2, categories
    assert not {p.id for p in robotics[:6]} & set(mine)  # what the reader upvoted is not sent back
    with sessions() as session:  # and what the digest sent is never recommended again
        again = recommend(session, user(session, uid), embedder.name, WINDOW, limit=50)
    assert not set(mine) & {item.paper.id for item in again.items}


# --- the API and the command line -----------------------------------------------------------------------


def test_the_api_and_the_cli_give_the_same_recommendations_with_a_token_from_the_cli(
    settings: Settings,
    sessions: sessionmaker[Session],
    library: list[Paper],
    embedder: MemoizingEmbedder,
    cli: CliRunner,
) -> None:
    robotics = by_category(library, "cs.RO")
    uid = add_user(sessions, "scripter")
    upvote(sessions, uid, robotics[:6], BEFORE)
    issued = cli.invoke(app, ["users", "token", "scripter"])
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip()
    assert token.startswith("pb_")
    assert cli.invoke(app, ["users", "token", "nobody"]).exit_code != 0
    window = {"since": "2023-01-01", "until": "2026-01-01"}
    with make_client(settings, embedder) as client:
        assert client.get("/api/recommendations").status_code == 401
        auth = {"Authorization": f"Bearer {token}"}
        bad = client.get(
            "/api/recommendations", params={"since": "2025-02-01", "until": "2025-01-01"}, headers=auth
        )
        assert bad.status_code == 400 and bad.json()["parameter"] == "since", bad.text
        items = client.get("/api/recommendations", params={**window, "limit": 5}, headers=auth).json()
        assert len(items) == 5
        daily_keys = {"id", "authors", "publishedAt", "title", "summary", "upvotes", "discussionId"}
        assert all(daily_keys <= set(item["paper"]) and item["reasons"] for item in items)
        cli_run = cli.invoke(
            app,
            [
                "recommend",
                "--user",
                "scripter",
                "--since",
                "2023-01-01",
                "--until",
                "2026-01-01",
                "--limit",
                "5",
                "--json",
            ],
        )
        assert cli_run.exit_code == 0, cli_run.output
        assert [row["id"] for row in json.loads(cli_run.output)] == [item["paper"]["id"] for item in items]
        first = items[0]["paper"]["id"]
        assert client.post(f"/api/papers/{first}/dismiss", headers=auth).json() == {
            "id": first,
            "signal": "dismissed",
        }
        saved = client.post(f"/api/papers/{items[1]['paper']['id']}/save", headers=auth).json()
        assert saved["collection"]["name"] == "Reading list"
        again = client.get("/api/recommendations", params={**window, "limit": 5}, headers=auth).json()
        assert {first, items[1]["paper"]["id"]}.isdisjoint(item["paper"]["id"] for item in again)
        author = robotics[0].authors[0]
        assert client.post(f"/api/authors/{author}/follow", headers=auth).json()["following"] is True
        assert client.get("/api/collections", headers=auth).json()[0]["papers"] == 1
    text = cli.invoke(
        app, ["recommend", "--user", "scripter", "--since", "2023-01-01", "--until", "2026-01-01"]
    )
    assert (
        "For scripter, papers published 2023-01-01 to 2026-01-01" in text.output
        and "Close to “" in text.output
    )
    assert "--until" in cli.invoke(app, ["recommend", "--user", "scripter", "--until", "2025-13-01"]).output


def test_eval_recommendations_replays_the_instances_signals(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder, cli: CliRunner
) -> None:
    assert "not enough signals" in cli.invoke(app, ["eval", "recommendations"]).output
    for n, category in enumerate(("cs.RO", "cs.CL", "cs.LG")):
        uid = add_user(sessions, f"replay{n}")
        mine = [p for p in by_category(library, category) if p.published_at]
        with transaction(sessions) as session:
            for paper in mine:
                assert paper.published_at is not None
                session.add(
                    Vote(user_id=uid, paper_id=paper.id, created_at=paper.published_at + timedelta(days=1))
                )
    result = cli.invoke(app, ["eval", "recommendations", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["users"] >= 1 and report["candidates"] > 0
    names = {row["ranker"] for row in report["rankers"]}
    assert {
        "centroid",
        "nearest seed",
        "logistic regression",
        "tf-idf + linear SVM",
        "multi-interest",
    } <= names
    for row in report["rankers"]:
        assert 0 <= row["ndcg@10"] <= 1 and 0 <= row["balanced_accuracy"] <= 1
    best = max(report["rankers"], key=lambda row: row["ndcg@10"])
    assert best["ndcg@10"] > 0.3, report  # three readers of three separate categories are easy to tell apart


def test_switching_an_interest_off_removes_its_papers_and_switching_it_on_brings_them_back(
    sessions: sessionmaker[Session], library: list[Paper], embedder: MemoizingEmbedder
) -> None:
    robotics, language = by_category(library, "cs.RO"), by_category(library, "cs.CL")
    uid = add_user(sessions, "switcher")
    upvote(sessions, uid, robotics[:8] + language[:6], BEFORE)

    def recommended() -> dict[int, str | None]:
        """{paper id: the label of the interest it was recommended for}"""
        with sessions() as session:
            result = recommend(session, user(session, uid), embedder.name, WINDOW, limit=20)
        return {item.paper.id: item.interest.label if item.interest else None for item in result.items}

    before = recommended()
    label = max(set(before.values()), key=list(before.values()).count)  # the interest with most papers
    served = {pid for pid, shown in before.items() if shown == label}
    assert len(served) >= 3
    with sessions() as session:
        profile = load_profile(session, user(session, uid), embedder.name)
    number = next(i.number for i in profile.interests if i.label == label)
    with transaction(sessions) as session:
        switch_interest_off(session, user(session, uid), embedder.name, number)
    after = recommended()
    assert label not in after.values()
    assert len(served & set(after)) <= 1, (label, served & set(after))
    with sessions() as session:
        profile = load_profile(session, user(session, uid), embedder.name)
    assert [i.label for i in profile.switched_off] == [label]
    assert profile.switched_off[0].muted_id is not None
    with transaction(sessions) as session:
        switch_interest_on(session, user(session, uid), profile.switched_off[0].muted_id)
    assert recommended() == before


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"since": "2025-02-01", "until": "2025-01-01"}, "since"),
        ({"until": "0001-01-01"}, "until"),
        ({"since": "9999-12-31"}, "since"),
        ({"since": "1990-01-01", "until": "2025-01-01"}, "since"),
    ],
)
def test_a_window_that_cannot_be_used_names_its_bound(
    sessions: sessionmaker[Session], params: dict[str, str], parameter: str
) -> None:
    with sessions() as session, pytest.raises(WindowError) as caught:
        Window.of(
            session, *(date.fromisoformat(params[k]) if k in params else None for k in ("since", "until"))
        )
    assert caught.value.parameter == parameter


def _average_linkage(vectors: np.ndarray, threshold: float) -> list[tuple[int, ...]]:
    """Average-linkage clustering the slow, obvious way (every pair of groups compared at every step)."""
    groups = [[i] for i in range(len(vectors))]
    while len(groups) > 1:
        pairs = [
            (float((vectors[a] @ vectors[b].T).mean()), x, y)
            for x, a in enumerate(groups)
            for y, b in enumerate(groups)
            if x < y
        ]
        best, x, y = max(pairs)
        if best < threshold and len(groups) <= MAX_INTERESTS:
            break
        groups[x] += groups.pop(y)
    return sorted(tuple(sorted(g)) for g in groups)


@pytest.mark.parametrize("seed", range(6))
def test_interests_are_the_average_linkage_clusters_of_the_positives(seed: int) -> None:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, 24))
    vectors = unit_rows(centres[rng.integers(0, 4, 60)] + 0.8 * rng.standard_normal((60, 24)))
    found = sorted(interest.members for interest in find_interests(vectors))
    assert found == _average_linkage(vectors.astype(np.float64), INTEREST_THRESHOLD)
