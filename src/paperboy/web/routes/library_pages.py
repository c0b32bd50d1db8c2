"""The personal library on the web: the library and collection pages, saving, notes, read marks,
"not interested" and "more like this" on papers, importing reference files, exporting collections and the
whole profile. Private things are shown only to their owner; a public collection is readable by anyone."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from paperboy.db.engine import transaction
from paperboy.db.models import Collection, Paper, User
from paperboy.db.repositories.library import (
    collection_papers,
    collections_of,
    default_collection,
    delete_collection,
    external_papers,
    move_collection,
    move_paper,
    notes_of,
    owned_collection,
    read_marks,
    set_note,
    set_read,
    unsave_paper,
)
from paperboy.db.repositories.papers import find_paper
from paperboy.links import paper_path
from paperboy.personal.citations import FORMATS, MEDIA_TYPES, CitationError, detect_format, parse
from paperboy.personal.library import (
    LibraryError,
    checked_note,
    create_collection,
    export_collections,
    import_citations,
    rename_collection,
    seed_vectors,
)
from paperboy.personal.portable import ProfileError, export_profile, import_profile
from paperboy.personal.signals import SignalError, save, set_paper_signal
from paperboy.web.context import check_csrf, problem_page, rate_limit, render, safe_next
from paperboy.web.deps import OptionalViewer, ReadSession, Shared, SignedIn
from paperboy.web.fields import FormText, LongFormText, NextPath, OptionalFormRowId, RowId

router = APIRouter(include_in_schema=False)
_write = [Depends(check_csrf), Depends(rate_limit("write"))]
MAX_UPLOAD = 5 * 1024 * 1024


@router.get("/library", response_class=HTMLResponse)
def read_library(request: Request, viewer: SignedIn, session: ReadSession) -> HTMLResponse:
    collections = collections_of(session, viewer.id)
    context = {"collections": collections, "formats": FORMATS, "page_title": "Your library"}
    return render(request, "library.html", context)


@router.post("/library/collections", dependencies=_write, response_model=None)
def post_collection(
    request: Request,
    viewer: SignedIn,
    shared: Shared,
    name: FormText = "",
    description: LongFormText = "",
    public: Annotated[bool, Form()] = False,
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            default_collection(session, viewer.id)
            collection = create_collection(session, viewer.id, name, description, public)
            target = f"/collections/{collection.id}?notice=collection-created"
    except LibraryError as exc:
        return problem_page(request, "Collection not created", str(exc), 400, "/library")
    return RedirectResponse(target, status_code=303)


@router.get("/collections/{collection_id}", response_class=HTMLResponse)
def read_collection(
    request: Request, collection_id: RowId, viewer: OptionalViewer, session: ReadSession
) -> HTMLResponse:
    collection = session.get(Collection, collection_id)
    mine = collection is not None and viewer is not None and collection.user_id == viewer.id
    if collection is None or not (mine or collection.is_public):
        return problem_page(
            request, "No such collection", "This collection does not exist or is private.", 404
        )
    owner = session.get(User, collection.user_id)
    papers = collection_papers(session, collection.id)
    ids = [paper.id for paper, _ in papers]
    context = {
        "collection": collection,
        "owner": owner,
        "mine": mine,
        "papers": papers,
        "entries": external_papers(session, collection.id),
        "notes": notes_of(session, viewer.id, ids) if mine and viewer else {},
        "reads": read_marks(session, viewer.id, ids) if mine and viewer else {},
        "formats": FORMATS,
        "page_title": collection.name,
    }
    return render(request, "collection.html", context)


@router.post("/collections/{collection_id}", dependencies=_write, response_model=None)
def post_collection_edit(
    request: Request,
    collection_id: RowId,
    viewer: SignedIn,
    shared: Shared,
    name: FormText = "",
    description: LongFormText = "",
    public: Annotated[bool, Form()] = False,
) -> Response:
    try:
        with transaction(shared.sessions) as session:
            collection = owned_collection(session, viewer.id, collection_id)
            if collection is None:
                return problem_page(
                    request, "No such collection", "This collection is not yours.", 404, "/library"
                )
            rename_collection(session, collection, name, description, public)
    except LibraryError as exc:
        return problem_page(request, "Collection not saved", str(exc), 400, f"/collections/{collection_id}")
    return RedirectResponse(f"/collections/{collection_id}?notice=collection-saved", status_code=303)


@router.post("/collections/{collection_id}/delete", dependencies=_write, response_model=None)
def post_collection_delete(
    request: Request, collection_id: RowId, viewer: SignedIn, shared: Shared
) -> Response:
    with transaction(shared.sessions) as session:
        collection = owned_collection(session, viewer.id, collection_id)
        if collection is None:
            return problem_page(
                request, "No such collection", "This collection is not yours.", 404, "/library"
            )
        if collection.is_default:
            return problem_page(
                request,
                "Not deleted",
                "The Reading list is kept; remove its papers instead.",
                400,
                "/library",
            )
        delete_collection(session, collection)
    return RedirectResponse("/library?notice=collection-deleted", status_code=303)


@router.post("/collections/{collection_id}/move", dependencies=_write, response_model=None)
def post_collection_move(
    request: Request,
    collection_id: RowId,
    viewer: SignedIn,
    shared: Shared,
    step: Annotated[int, Form(ge=-1, le=1)] = 1,
    paper: FormText = "",
) -> Response:
    with transaction(shared.sessions) as session:
        collection = owned_collection(session, viewer.id, collection_id)
        if collection is None:
            return problem_page(
                request, "No such collection", "This collection is not yours.", 404, "/library"
            )
        if paper:
            found = find_paper(session, paper)
            if found is not None:
                move_paper(session, collection, found.id, step)
            return RedirectResponse(f"/collections/{collection_id}", status_code=303)
        move_collection(session, collection, step)
    return RedirectResponse("/library", status_code=303)


@router.post("/collections/{collection_id}/remove", dependencies=_write, response_model=None)
def post_collection_remove(
    request: Request, collection_id: RowId, viewer: SignedIn, shared: Shared, paper: FormText = ""
) -> Response:
    with transaction(shared.sessions) as session:
        collection = owned_collection(session, viewer.id, collection_id)
        found = find_paper(session, paper) if paper else None
        if collection is None or found is None:
            return problem_page(request, "Not found", "No such paper in your collection.", 404, "/library")
        unsave_paper(session, collection, found.id)
    return RedirectResponse(f"/collections/{collection_id}?notice=unsaved", status_code=303)


@router.get("/collections/{collection_id}/export.{extension}", response_model=None)
def read_collection_export(
    request: Request, collection_id: RowId, extension: str, viewer: OptionalViewer, session: ReadSession
) -> Response:
    collection = session.get(Collection, collection_id)
    mine = collection is not None and viewer is not None and collection.user_id == viewer.id
    if collection is None or not (mine or collection.is_public):
        return problem_page(
            request, "No such collection", "This collection does not exist or is private.", 404
        )
    return _export(request, session, [collection], extension, collection.name)


def _export(
    request: Request, session: Session, collections: list[Collection], extension: str, name: str
) -> Response:
    format = {"bib": "bibtex", "ris": "ris", "json": "csl-json"}.get(extension)
    if format is None:
        return problem_page(
            request,
            "Unknown format",
            f"Export as .bib (BibTeX), .ris (RIS) or .json (CSL-JSON), not .{extension[:20]}.",
            404,
        )
    text = export_collections(session, collections, format)
    media, suffix = MEDIA_TYPES[format]
    filename = "".join(c if c.isalnum() else "-" for c in name).strip("-")[:60] or "collection"
    return Response(
        text,
        media_type=f"{media}; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}.{suffix}"'},
    )


@router.get("/library/export.{extension}", response_model=None)
def read_library_export(request: Request, extension: str, viewer: SignedIn, session: ReadSession) -> Response:
    collections = [s.collection for s in collections_of(session, viewer.id)]
    return _export(request, session, collections, extension, f"{viewer.username}-library")


@router.get("/library/profile.json", response_model=None)
def read_profile_export(viewer: SignedIn, session: ReadSession) -> Response:
    user = session.get(User, viewer.id)
    assert user is not None
    data = export_profile(session, user)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="paperboy-profile-{viewer.username}.json"'},
    )


async def _read_upload(upload: UploadFile) -> tuple[str, str]:
    raw = await upload.read(MAX_UPLOAD + 1)
    name = (upload.filename or "file")[:200]
    if len(raw) > MAX_UPLOAD:
        raise CitationError(f"{name}: larger than {MAX_UPLOAD // (1024 * 1024)} MB")
    try:
        return raw.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise CitationError(f"{name}: not UTF-8 text (byte {exc.start} cannot be read)") from None


@router.post("/library/profile", dependencies=_write, response_model=None)
async def post_profile_import(
    request: Request, viewer: SignedIn, shared: Shared, file: Annotated[UploadFile, File()]
) -> Response:
    try:
        text, name = await _read_upload(file)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ProfileError(
                f"{name}, line {exc.lineno} column {exc.colno}: not valid JSON ({exc.msg})"
            ) from None
        with transaction(shared.sessions) as session:
            user = session.get(User, viewer.id)
            assert user is not None
            report = import_profile(session, user, data)
    except (CitationError, ProfileError) as exc:
        return problem_page(request, "Profile not imported", str(exc), 400, "/library")
    return render(request, "profile_import.html", {"report": report, "page_title": "Profile imported"})


@router.post("/library/import", dependencies=_write, response_model=None)
async def post_import(
    request: Request,
    viewer: SignedIn,
    shared: Shared,
    file: Annotated[UploadFile, File()],
    collection: OptionalFormRowId = None,
    format: Annotated[str, Form(pattern="^(auto|bibtex|ris|csl-json)$")] = "auto",
) -> Response:
    try:
        text, name = await _read_upload(file)
        chosen = detect_format(text, name) if format == "auto" else format
        citations = parse(text, chosen, name)
    except CitationError as exc:
        return problem_page(request, "Nothing imported", str(exc), 400, "/library")
    search = shared.search()
    find_title = search.backend.exact_title
    with shared.sessions() as session:  # embedding first, outside the write transaction
        vectors = seed_vectors(session, collection, citations, search.embedder, find_title)
    with transaction(shared.sessions) as session:
        target = owned_collection(session, viewer.id, collection)
        if target is None:
            return problem_page(
                request, "No such collection", "Import into one of your collections.", 404, "/library"
            )
        report = import_citations(session, target, citations, chosen, search.embedder, find_title, vectors)
        target_id = target.id
    context = {"report": report, "collection_id": target_id, "page_title": "Import report"}
    return render(request, "import_report.html", context)


# --- on a paper ----------------------------------------------------------------------------------------


PaperAction = Callable[[Session, User, Paper], str]
"""Changes something about one paper for one user; returns the notice to show."""


def _paper_action(
    request: Request, shared: Shared, viewer_id: int, arxiv_id: str, act: PaperAction
) -> Response | tuple[str, Paper]:
    try:
        with transaction(shared.sessions) as session:
            paper = find_paper(session, arxiv_id)
            user = session.get(User, viewer_id)
            if paper is None or user is None:
                return problem_page(
                    request, "Paper not found", f"No paper {arxiv_id[:100]} in this library.", 404
                )
            notice = act(session, user, paper)
            return notice, paper
    except (LibraryError, SignalError) as exc:
        return problem_page(request, "Not saved", str(exc), 400, paper_path(arxiv_id))


def _back(next_path: str, arxiv_id: str, notice: str) -> RedirectResponse:
    target = safe_next(next_path) if next_path else paper_path(arxiv_id)
    joiner = "&" if "?" in target else "?"
    anchor = ""
    if "#" in target:
        target, anchor = target.split("#", 1)
        anchor = "#" + anchor
    return RedirectResponse(f"{target}{joiner}notice={notice}{anchor}", status_code=303)


@router.post("/papers/{arxiv_id:path}/save", dependencies=_write, response_model=None)
def post_save(
    request: Request,
    arxiv_id: str,
    viewer: SignedIn,
    shared: Shared,
    collection: OptionalFormRowId = None,
    saved: Annotated[bool, Form()] = True,
    next_path: NextPath = "",
) -> Response:
    def act(session: Session, user: User, paper: Paper) -> str:
        target = owned_collection(session, user.id, collection)
        if target is None:
            raise LibraryError("collection", "that collection is not yours")
        if saved:
            save(session, user, paper, target)
            return "saved"
        unsave_paper(session, target, paper.id)
        return "unsaved"

    outcome = _paper_action(request, shared, viewer.id, arxiv_id, act)
    if isinstance(outcome, Response):
        return outcome
    return _back(next_path, outcome[1].arxiv_id, outcome[0])


@router.post("/papers/{arxiv_id:path}/signal", dependencies=_write, response_model=None)
def post_signal(
    request: Request,
    arxiv_id: str,
    viewer: SignedIn,
    shared: Shared,
    kind: Annotated[str, Form(pattern="^(seed|dismissed|none)$")] = "dismissed",
    next_path: NextPath = "",
) -> Response:
    def act(session: Session, user: User, paper: Paper) -> str:
        set_paper_signal(session, user, paper, None if kind == "none" else kind)
        return {"seed": "seeded", "dismissed": "dismissed"}.get(kind, "signal-cleared")

    outcome = _paper_action(request, shared, viewer.id, arxiv_id, act)
    if isinstance(outcome, Response):
        return outcome
    return _back(next_path, outcome[1].arxiv_id, outcome[0])


@router.post("/papers/{arxiv_id:path}/note", dependencies=_write, response_model=None)
def post_note(
    request: Request,
    arxiv_id: str,
    viewer: SignedIn,
    shared: Shared,
    body: LongFormText = "",
    next_path: NextPath = "",
) -> Response:
    def act(session: Session, user: User, paper: Paper) -> str:
        set_note(session, user.id, paper.id, checked_note(body))
        return "note-saved"

    outcome = _paper_action(request, shared, viewer.id, arxiv_id, act)
    if isinstance(outcome, Response):
        return outcome
    return _back(next_path or paper_path(outcome[1].arxiv_id) + "#library", outcome[1].arxiv_id, outcome[0])


@router.post("/papers/{arxiv_id:path}/read", dependencies=_write, response_model=None)
def post_read(
    request: Request,
    arxiv_id: str,
    viewer: SignedIn,
    shared: Shared,
    read: Annotated[bool, Form()] = True,
    next_path: NextPath = "",
) -> Response:
    def act(session: Session, user: User, paper: Paper) -> str:
        set_read(session, user.id, paper.id, read)
        return "read-marked" if read else "unread-marked"

    outcome = _paper_action(request, shared, viewer.id, arxiv_id, act)
    if isinstance(outcome, Response):
        return outcome
    return _back(next_path, outcome[1].arxiv_id, outcome[0])
