"""The screens JSON API (contract "Screens"): `POST /api/v1/screens/check`, `GET|POST
/api/v1/screens`, `GET|PATCH|DELETE /api/v1/screens/<id>`, `POST .../<id>/run` and `GET
.../<id>/results`. A django-ninja router mounted behind session (CSRF on writes) or token
authentication, so `request.auth` is the user. A user sees the shared screens and their
own (another's is "not found"); owners change theirs, staff the shared ones. Text in the
screen language that does not parse is a 400 with the character `position`."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from ninja import Router

from prices.clientjson import ClientJsonError, loads_client_json
from prices.schemas import Error
from screeners.apischemas import (
    CHECK_BODY,
    SCREEN_BODY,
    CheckError,
    CheckOk,
    Deleted,
    Queued,
    Results,
    ScreenEnvelope,
    ScreenList,
    result_json,
    screen_json,
)
from screeners.models import Screen, ScreenRun, latest_run, visible_to
from screeners.runs import request_run
from screeners.validation import ScreenInputError, apply_fields, check_text, screen_fields

router = Router(tags=["screens"])


def _error(message: str, status: int = 400, **extra: object) -> JsonResponse:
    return JsonResponse({"error": message, **extra}, status=status)


def _body(request: HttpRequest) -> object:
    try:
        return loads_client_json(request.body or b"null")
    except ClientJsonError as exc:
        raise ScreenInputError(f"the body is {exc}") from None


def _visible(request: HttpRequest, screen_id: int) -> Screen | None:
    return visible_to(request.auth.pk).filter(pk=screen_id).select_related("owner").first()


def _may_change(user, screen: Screen) -> bool:
    return screen.owner_id == user.pk if screen.owner_id else bool(user.is_staff)


@router.post(
    "/screens/check",
    response={200: CheckOk, 400: CheckError, 401: Error},
    openapi_extra={"requestBody": CHECK_BODY},
)
def check(request: HttpRequest) -> JsonResponse:
    """The editor's live syntax check: a condition or an expression."""
    try:
        body = _body(request)
        if not isinstance(body, dict) or len({"condition", "expression"} & set(body)) != 1:
            raise ScreenInputError('send {"condition": TEXT} or {"expression": TEXT}')
        field = "condition" if "condition" in body else "expression"
        check_text(body[field], field=field, condition=field == "condition")
    except ScreenInputError as exc:
        return JsonResponse(exc.as_json(), status=400)
    return JsonResponse({"ok": True})


@router.get("/screens", response={200: ScreenList, 401: Error}, url_name="screens_api")
def list_screens(request: HttpRequest) -> JsonResponse:
    shown = visible_to(request.auth.pk).select_related("owner")
    return JsonResponse({"screens": [screen_json(s) for s in shown]})


@router.post(
    "/screens",
    response={201: ScreenEnvelope, 400: CheckError, 401: Error, 403: Error},
    openapi_extra={"requestBody": SCREEN_BODY},
)
def add_screen(request: HttpRequest) -> JsonResponse:
    try:
        fields = screen_fields(_body(request), owner_id=request.auth.pk)
    except ScreenInputError as exc:
        return JsonResponse(exc.as_json(), status=400)
    screen = apply_fields(Screen(owner=request.auth), fields)
    screen.save()
    return JsonResponse({"screen": screen_json(screen)}, status=201)


@router.get("/screens/{screen_id}", response={200: ScreenEnvelope, 401: Error, 404: Error})
def get_screen(request: HttpRequest, screen_id: int) -> JsonResponse:
    screen = _visible(request, screen_id)
    if screen is None:
        return _error(f"no screen {screen_id}", 404)
    return JsonResponse({"screen": screen_json(screen)})


@router.patch(
    "/screens/{screen_id}",
    response={200: ScreenEnvelope, 400: CheckError, 401: Error, 403: Error, 404: Error},
    openapi_extra={"requestBody": SCREEN_BODY},
)
def change_screen(request: HttpRequest, screen_id: int) -> JsonResponse:
    screen = _visible(request, screen_id)
    if screen is None:
        return _error(f"no screen {screen_id}", 404)
    if not _may_change(request.auth, screen):
        return _error("shared screens are changed by staff", 403)
    try:
        fields = screen_fields(_body(request), owner_id=screen.owner_id, screen=screen)
    except ScreenInputError as exc:
        return JsonResponse(exc.as_json(), status=400)
    apply_fields(screen, fields).save()
    return JsonResponse({"screen": screen_json(screen)})


@router.delete("/screens/{screen_id}", response={200: Deleted, 401: Error, 403: Error, 404: Error})
def delete_screen(request: HttpRequest, screen_id: int) -> JsonResponse:
    screen = _visible(request, screen_id)
    if screen is None:
        return _error(f"no screen {screen_id}", 404)
    if screen.owner_id is None:
        return _error("shared screens are deleted in the admin", 403)
    if screen.owner_id != request.auth.pk:
        return _error(f"no screen {screen_id}", 404)
    screen.delete()
    return JsonResponse({"deleted": screen_id})


@router.post("/screens/{screen_id}/run", response={202: Queued, 401: Error, 403: Error, 404: Error})
def run_screen(request: HttpRequest, screen_id: int) -> JsonResponse:
    screen = _visible(request, screen_id)
    if screen is None:
        return _error(f"no screen {screen_id}", 404)
    if not _may_change(request.auth, screen):
        return _error("shared screens are run by staff or their schedule", 403)
    with transaction.atomic():
        run = request_run(screen)
    return JsonResponse({"run_id": run.pk}, status=202)


@router.get("/screens/{screen_id}/results", response={200: Results, 401: Error, 404: Error})
def results(request: HttpRequest, screen_id: int) -> JsonResponse:
    """The latest finished run; `run` null before the first."""
    screen = _visible(request, screen_id)
    if screen is None:
        return _error(f"no screen {screen_id}", 404)
    run: ScreenRun | None = latest_run(screen)
    return JsonResponse(result_json(run))
