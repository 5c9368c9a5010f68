"""``grader lti ...``: register an LMS and print what to register in it.

grader lti register-platform --issuer ... --client-id ... --login-url ... --token-url ... --keyset-url ... --deployment ...
grader lti show-config          the tool's URLs (login, launch, JWKS, deep linking) and its public key id
grader lti rotate-key [--keep-days 7]   a new signing key; the old ones stay in the JWKS that many days
grader lti list                 the registered platforms and the tool's keys
grader lti disable-platform ID | enable-platform ID | delete-platform ID --yes
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def _app() -> Any:
    from grader.app import create_app

    return create_app()


def cmd_register(args: argparse.Namespace) -> int:
    from . import platforms

    app = _app()
    with app.app_context():
        try:
            platform, added = platforms.register(
                platforms.PlatformForm(
                    issuer=args.issuer, client_id=args.client_id, auth_login_url=args.login_url,
                    auth_token_url=args.token_url, key_set_url=args.keyset_url, deployment_ids=args.deployment,
                    token_audience=args.token_audience or "", name=args.name or "",
                    frame_origins=args.frame_origin,
                )
            )  # fmt: skip
        except platforms.RegistrationRefused as refused:
            print(f"grader: {refused} Nothing was saved.", file=sys.stderr)
            return 2
        deployments = ", ".join(d.deployment_id for d in platform.deployments)
        print(
            f"{platform.name}: issuer {platform.issuer}, client id {platform.client_id}, deployments {deployments}"
        )
        if added:
            print(f"new deployments: {', '.join(added)}")
    return 0


def cmd_show_config(args: argparse.Namespace) -> int:
    from . import keys
    from .views import tool_urls

    app = _app()
    base = app.extensions["grader.config"].public_url
    if base is None:
        print(
            "grader: GRADER_PUBLIC_URL is not set; the URLs below assume http://127.0.0.1:5000. Set it to the "
            "address the LMS and browsers reach this service at (https://...).",
            file=sys.stderr,
        )
    with app.test_request_context(base_url=base or "http://127.0.0.1:5000"), app.app_context():
        urls = tool_urls()
        key = keys.signing_key()
        for label, key_name in (
            ("OIDC login URL", "login"), ("Launch / redirect URL", "launch"),
            ("Deep linking URL", "deep_linking"), ("Public JWKS URL", "jwks"),
        ):  # fmt: skip
            print(f"{label:<24}{urls[key_name]}")
        print(f"{'Signing key id (kid)':<24}{key.kid}")
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    from . import keys

    app = _app()
    with app.app_context():
        try:
            key = keys.rotate(args.keep_days, None)
        except ValueError as exc:
            print(f"grader: {exc} Nothing was changed.", file=sys.stderr)
            return 2
        print(f"new signing key {key.kid}; the keys it replaces stay in the JWKS for {args.keep_days} day(s)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from . import keys, platforms

    app = _app()
    with app.app_context():
        for p in platforms.list_platforms():
            state = f"disabled since {p.disabled_at:%Y-%m-%d %H:%M}" if p.disabled_at else "enabled"
            print(f"platform {p.id}: {p.name} ({p.issuer}, client {p.client_id}), {state}")
        for number, k in enumerate(keys.all_keys()):
            state = (
                "signs"
                if number == 0
                else (f"published until {k.retire_after:%Y-%m-%d %H:%M}" if k.retire_after else "published")
            )
            print(f"key {k.kid}: made {k.created_at:%Y-%m-%d %H:%M}, {state}")
    return 0


def _platform_command(args: argparse.Namespace) -> int:
    from grader.extensions import db

    from . import platforms
    from .models import LtiPlatform

    app = _app()
    with app.app_context():
        platform = db.session.get(LtiPlatform, args.platform_id)
        if platform is None:
            print(
                f"grader: there is no platform {args.platform_id}; `grader lti list` shows them.",
                file=sys.stderr,
            )
            return 2
        if args.lti_command == "delete-platform":
            if not args.yes:
                print(
                    f"grader: deleting {platform.name} removes its deployments, LMS links, line items and passbacks "
                    "(courses, accounts and grades stay). Add --yes to do it.",
                    file=sys.stderr,
                )
                return 2
            deleted = platforms.delete(platform, None)
            print(
                f"deleted {deleted.name} ({deleted.deployments} deployments; {deleted.courses} linked courses kept)"
            )
        else:
            platforms.set_disabled(platform, args.lti_command == "disable-platform", None)
            print(f"{platform.name} is {'disabled' if platform.disabled_at else 'enabled'}")
    return 0


def add_commands(commands: Any) -> None:
    group = commands.add_parser("lti", help="LTI 1.3: register LMS platforms, show the tool's configuration")
    sub = group.add_subparsers(dest="lti_command", required=True)
    register = sub.add_parser("register-platform", help="register an LMS (or add deployments to it)")
    register.add_argument("--issuer", required=True, help="the LMS's issuer (iss)")
    register.add_argument("--client-id", required=True, help="the client id the LMS gave this tool")
    register.add_argument("--login-url", required=True, help="the LMS's OIDC authorization URL")
    register.add_argument("--token-url", required=True, help="the LMS's OAuth2 access token URL")
    register.add_argument("--keyset-url", required=True, help="the LMS's public key set (JWKS) URL")
    register.add_argument(
        "--deployment", action="append", default=[], required=True, help="a deployment id (repeat for more)"
    )
    register.add_argument("--token-audience", help="the aud the token URL expects, if not the token URL")
    register.add_argument("--name", help="a name to show (default: the issuer's host)")
    register.add_argument(
        "--frame-origin", action="append", default=[],
        help="an origin the LMS shows its pages from, if not the issuer's (hosted Canvas: your Canvas address)",
    )  # fmt: skip
    register.set_defaults(handler=cmd_register)
    sub.add_parser("show-config", help="print the URLs to register in the LMS").set_defaults(
        handler=cmd_show_config
    )
    rotate = sub.add_parser("rotate-key", help="make a new signing key; keep the old ones published a while")
    rotate.add_argument(
        "--keep-days", type=int, default=7, help="days the old keys stay in the JWKS (default 7)"
    )
    rotate.set_defaults(handler=cmd_rotate_key)
    sub.add_parser("list", help="the registered platforms and the tool's keys").set_defaults(handler=cmd_list)
    for name, said in (("disable-platform", "refuse its launches, send it nothing"),
                       ("enable-platform", "enable a disabled platform again"),
                       ("delete-platform", "delete a registration (courses and grades stay)")):  # fmt: skip
        command = sub.add_parser(name, help=said)
        command.add_argument("platform_id", type=int)
        if name == "delete-platform":
            command.add_argument("--yes", action="store_true", help="really delete it")
        command.set_defaults(handler=_platform_command)
