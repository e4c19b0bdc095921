"""The screen editor's pages (the editor lands in the next commit)."""

from django.http import Http404, HttpRequest, HttpResponse


def new_screen(request: HttpRequest) -> HttpResponse:
    raise Http404("the editor is not built yet")


def edit_screen(request: HttpRequest, screener_type: str) -> HttpResponse:
    raise Http404("the editor is not built yet")
