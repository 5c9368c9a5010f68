"""A tiny LMS for the LTI tests: lti1p3platform (PyPI, written by others) behind a few Flask routes.

lti1p3platform implements the platform side (signed launches, the token endpoint, AGS and NRPS
services, deep linking validation) with Django and FastAPI adapters only; this is the Flask glue:
its key set, the start of a launch (OIDC login initiation), its auth endpoint producing the signed
launch form, its token endpoint, line items and scores (recorded), memberships in pages, and the
deep linking return. Each served by a real werkzeug server on 127.0.0.1.
"""

from __future__ import annotations

import html
import itertools
import threading
import typing as t
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, Response, jsonify, redirect, request, send_file
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest
from lti1p3platform.response import Response as PlatformResponse
from lti1p3platform.response import generate_next_link
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import AssignmentsGradesService, NamesRoleProvisioningService, TPage
from werkzeug.serving import make_server

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
MENTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def public_of(private_pem: str) -> str:
    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@dataclass
class LaunchSpec:
    """What the LMS launches: who, from where, and (for the refusal tests) what it gets wrong."""

    sub: str
    roles: list[str]
    context_id: str = "course-1"
    resource_link_id: str = "link-1"
    deep_link: bool = False
    custom: dict[str, str] = field(default_factory=dict)
    lineitem: str | None = None  # the AGS claim's line item for this link
    email: str | None = None
    name: str = "Ada Lovelace"
    extra: dict[str, Any] = field(default_factory=dict)  # claims that override the normal ones
    expires_in: int = 300
    foreign_key: bool = False  # sign with a key the platform never published (under its kid)


class _FlaskRequest(Request):
    def build_metadata(self, _: Any) -> TRequest:
        numeric = {"page", "limit"}  # the library adds 1 to page: give it numbers
        get_data = {k: int(v) if k in numeric and v.isdigit() else v for k, v in request.args.items()}
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": get_data,
            "headers": request.headers,
            "content_type": request.content_type,
            "path": request.path,
            "json": request.get_json(silent=True),
        }


def _to_flask(resp: PlatformResponse) -> Response:
    """As lti1p3platform's Django adapter does (wrap_json_resp), with its unquoted Link: rel=next."""
    if 200 <= resp.code < 300:
        data = (
            resp.result["content"]
            if isinstance(resp.result, dict) and "content" in resp.result
            else resp.result
        )
        out = jsonify(data)
        out.status_code, out.mimetype = resp.code, resp.media_type
        if isinstance(resp.result, dict) and resp.result.get("next"):
            out.headers["Link"] = generate_next_link(resp.result["next"])
        return out
    out = jsonify({"error": resp.message})
    out.status_code = resp.code
    return out


STORAGE_SCRIPT = Path(__file__).with_name("lti_platform_storage.js")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _framing_page(src: str, script: str) -> str:
    """An LMS course page with the tool in an iframe filling the width (phones included)."""
    return (
        '<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>Neural networks · LMS</title><style>body{margin:0;font-family:sans-serif}"
        "iframe{display:block;width:100%;height:85vh;border:0}</style></head><body>"
        f'<header>NN-101 · Grader link</header><iframe id="tool" name="tool" src="{html.escape(src)}" '
        f'title="Grader" allow="clipboard-write"></iframe>{script}</body></html>'
    )


class TestLms:
    """The platform: its registration of the tool, what it launches, what it received."""

    __test__ = False

    def __init__(
        self, client_id: str = "grader-client", deployment_id: str = "deployment-1", host: str = "127.0.0.1"
    ) -> None:
        self.client_id, self.deployment_id = client_id, deployment_id
        self.private_key = rsa_pem()
        self.foreign_key = rsa_pem()
        self.launches: dict[str, LaunchSpec] = {}
        self.line_items: dict[str, dict[str, Any]] = {}
        self.created_line_items: list[dict[str, Any]] = []  # POSTed by the tool
        self.scores: list[tuple[str, dict[str, Any]]] = []  # (line item id, score) as received
        self.deep_link_items: list[dict[str, Any]] = []
        self.members: list[dict[str, Any]] = []
        self.member_pages_served = 0
        self.token_requests = 0
        self.fail_scores = 0  # answer this many score POSTs with a 500
        self._ids = itertools.count(1)
        self.app = self._make_app()
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        # Another host name than the tool's 127.0.0.1 ("localhost") makes the LMS another site: the
        # tool in its frame is then third-party, as in a real LMS.
        self.url = f"http://{host}:{self.server.server_port}"
        self.issuer = self.url
        self.tool: dict[str, str] = {}
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()

    # What the tool's admin registers, and what the platform knows of the tool.

    def registration(self) -> Registration:
        return (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_oidc_login_url(self.tool["login"])
            .set_launch_url(self.tool["launch"])
            .set_deeplink_launch_url(self.tool["launch"])
            .set_platform_private_key(self.private_key)
            .set_platform_public_key(public_of(self.private_key))
            .set_tool_key_set_url(self.tool["jwks"])
        )

    def config(self) -> LTI1P3PlatformConfAbstract:
        lms = self

        class Conf(LTI1P3PlatformConfAbstract):
            def init_platform_config(self, **kwargs: Any) -> None:
                pass

            def get_registration_by_params(self, **kwargs: Any) -> Registration:
                return lms.registration()

        conf = Conf()
        conf.get_registration()
        return conf

    def rotate_key(self) -> None:
        self.private_key = rsa_pem()

    def start_url(self, spec: LaunchSpec) -> str:
        hint = f"hint-{next(self._ids)}"
        self.launches[hint] = spec
        return f"{self.url}/start?hint={hint}"

    def frame_url(self, spec: LaunchSpec, storage: str = "answer") -> str:
        """The LMS's page that shows the tool in an iframe, its launch begun there. ``storage``: "answer"
        (the page offers platform storage and answers it), "silent" (offers it, never answers), "none"."""
        hint = f"hint-{next(self._ids)}"
        self.launches[hint] = spec
        return f"{self.url}/course-page?hint={hint}&storage={storage}"

    def embed_url(self, src: str) -> str:
        """An LMS page framing any URL (for checking what the browser does with third-party cookies)."""
        return f"{self.url}/embed?{urlencode({'src': src})}"

    def item_url(self, n: int) -> str:
        return f"{self.url}/lineitems/{n}"

    def add_line_item(self, item: dict[str, Any]) -> dict[str, Any]:
        item = {**item, "id": self.item_url(next(self._ids))}
        self.line_items[item["id"]] = item
        return item

    # The Flask routes.

    def _make_app(self) -> Flask:
        app = Flask("test-lms")
        lms = self

        class Login(OIDCLoginAbstract):
            def set_lti_message_hint(self, **kwargs: Any) -> None:
                self._lti_message_hint = kwargs["hint"]

            def get_redirect(self, url: str) -> Any:
                return redirect(url)

        class Launch(LTIAdvantageMessageLaunchAbstract):
            def get_preflight_response(self) -> dict[str, Any]:
                return request.values.to_dict()

            def prepare_launch(self, preflight_response: dict[str, Any]) -> None:
                spec = lms.launches[preflight_response["lti_message_hint"]]
                self.spec = spec
                self.set_user_data(spec.sub, spec.roles, full_name=spec.name, email_address=spec.email)
                self.set_launch_context_claim(
                    spec.context_id, context_title="Neural networks", context_label="NN-101"
                )
                self.set_resource_link_claim(spec.resource_link_id, title="Grader link")
                if spec.custom:
                    self.set_custom_parameters_claim(spec.custom)
                self.set_ags(f"{lms.url}/lineitems", spec.lineitem)
                self.set_nrps(f"{lms.url}/memberships?limit=2")
                if spec.deep_link:
                    self.set_dl(f"{lms.url}/deep_link_return", accept_types={"ltiResourceLink"})
                self.set_extra_claims(spec.extra)
                self.set_id_token_expiration(spec.expires_in)

            def generate_launch_request(self) -> Any:
                launch = super().generate_launch_request()
                if (
                    self.spec.foreign_key
                ):  # the same claims signed by a key nobody published, under the real kid
                    body, _ = self.get_launch_data()
                    launch["id_token"] = Registration.encode_and_sign(
                        body, lms.foreign_key, {"kid": self._registration.get_kid()}, expiration=300
                    )
                return launch

            def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> str:
                fields = "".join(
                    f'<input type="hidden" name="{k}" value="{html.escape(str(launch_data[k]))}">'
                    for k in ("id_token", "state")
                )
                # As an LMS's launch page does, the form posts itself (requests-driven tests post it).
                return (
                    f'<form method="POST" action="{html.escape(launch_data["launch_url"])}">{fields}</form>'
                    "<script>document.forms[0].submit();</script>"
                )

        class Ags(AssignmentsGradesService):
            def find_lineitems(self, page: int = 1, limit: int | None = None, line_item_id: str | None = None,
                               resource_link_id: str | None = None, resource_id: str | None = None,
                               tag: str | None = None, **_: Any) -> TPage:  # fmt: skip
                items = [
                    i for i in lms.line_items.values()
                    if (resource_id is None or i.get("resourceId") == resource_id) and (tag is None or i.get("tag") == tag)
                ]  # fmt: skip
                return {"content": items, "has_next": False}

            def find_lineitem(self, line_item_id: str) -> TLineItem:
                return t.cast(TLineItem, lms.line_items[lms.item_url(int(line_item_id))])

            def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
                item = lms.add_line_item(dict(creation_data))
                lms.created_line_items.append(item)
                return t.cast(TLineItem, item)

            def update_lineitem(self, update_data: TLineItem) -> TLineItem:
                raise NotImplementedError

            def delete_lineitem(self, line_item_id: str) -> None:
                raise NotImplementedError

            def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
                lms.scores.append((lms.item_url(int(line_item_id)), dict(score)))
                return UpdateScoreStatus.SUCCESS

            def get_results(self, line_item_id: str, page: int = 1, limit: int | None = None,
                            user_id: str | None = None) -> TPage:  # fmt: skip
                return {"content": [], "has_next": False}

        class Nrps(NamesRoleProvisioningService):
            def get_member_data_page(self, page: int = 1, limit: int | None = None, **_: Any) -> TPage:
                lms.member_pages_served += 1
                size = limit or len(lms.members)
                chunk = lms.members[(page - 1) * size : page * size]
                return {"content": chunk, "has_next": page * size < len(lms.members)}

            def get_context_by_id(self) -> Context:
                return Context(id="course-1", label="NN-101", title="Neural networks")

        def ags() -> Ags:
            return Ags(_FlaskRequest(None), lms.config(), f"{lms.url}/lineitems")

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify({"keys": lms.registration().get_jwks()})

        @app.get("/start")
        def start() -> Any:
            spec = lms.launches[request.args["hint"]]
            login = Login(_FlaskRequest(None), lms.config())
            login.set_lti_message_hint(hint=request.args["hint"])
            return login.initiate_login(spec.sub)

        @app.get("/course-page")
        def course_page() -> Any:
            spec = lms.launches[request.args["hint"]]
            login = Login(_FlaskRequest(None), lms.config())
            login.set_lti_message_hint(hint=request.args["hint"])
            storage = request.args.get("storage", "answer")
            src = login.prepare_preflight_url(spec.sub)
            if storage != "none":
                src += "&" + urlencode({"lti_storage_target": "_parent"})
            script = (
                f'<script src="/platform-storage.js" data-tool-origin="{html.escape(_origin(src))}"></script>'
                if storage == "answer"
                else ""
            )
            return _framing_page(src, script)

        @app.get("/embed")
        def embed() -> Any:
            return _framing_page(request.args["src"], "")

        @app.get("/platform-storage.js")
        def platform_storage_js() -> Any:
            return send_file(STORAGE_SCRIPT, mimetype="text/javascript")

        @app.route("/auth", methods=["GET", "POST"])
        def auth() -> Any:
            return Launch(_FlaskRequest(None), lms.config()).lti_launch()

        @app.post("/token")
        def token() -> Any:
            lms.token_requests += 1
            return jsonify(lms.config().get_access_token(request.form.to_dict()))

        @app.route("/lineitems", methods=["GET", "POST"])
        def lineitems() -> Any:
            service = ags()
            return _to_flask(
                service.handle_get_lineitems()
                if request.method == "GET"
                else service.handle_create_lineitem()
            )

        @app.get("/lineitems/<int:n>")
        def lineitem(n: int) -> Any:
            return _to_flask(ags().handle_get_lineitem(str(n)))

        @app.post("/lineitems/<int:n>/scores")
        def scores(n: int) -> Any:
            if lms.fail_scores:
                lms.fail_scores -= 1
                return jsonify({"error": "gradebook temporarily unavailable"}), 500
            return _to_flask(ags().handle_update_score(str(n)))

        @app.get("/memberships")
        def memberships() -> Any:
            service = Nrps(_FlaskRequest(None), lms.config(), f"{lms.url}/memberships")
            return _to_flask(service.handle_get_members())

        @app.post("/deep_link_return")
        def deep_link_return() -> Any:
            items = lms.config().validate_deeplinking_resp(request.form.to_dict())
            for item in items:
                lms.deep_link_items.append(item)
                if item.get("lineItem"):  # as an LMS does: a column for the declared line item
                    lms.add_line_item(item["lineItem"])
            return jsonify(items)

        return app
