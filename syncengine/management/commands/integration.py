"""`manage.py integration …`: validate, render, export, import and test integration manifests.

Errors are reported as text with their place and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import sys
from argparse import _SubParsersAction
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncengine.connect_values import option_values
from syncengine.core.compiler import compile_manifest
from syncengine.core.display import scrub_url
from syncengine.core.manifest.checks import check_manifest
from syncengine.core.manifest.normalize import ManifestError, load_manifest, normalize_manifest
from syncengine.core.manifest.schema import BATCH_ENDPOINTS, SELECT_TYPES
from syncengine.core.masking import mask_headers, mask_text
from syncengine.core.preview import sample_context
from syncengine.core.protocol import batch_id_for
from syncengine.core.template.errors import RenderError
from syncengine.core.types import Diagnostic, RenderContext
from syncengine.core.users import generate_users

EXIT_INVALID = 1


class Command(BaseCommand):
    help = "Validate, render, export, import and test integration manifests."
    # Django's system checks load every URL configuration and view module: a second of
    # start-up before the first request of `integration test`, to check what serving
    # pages needs and this command does not.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        validate = commands.add_parser("validate", help="check a manifest file")
        validate.add_argument("file", help="manifest JSON file ('-' for standard input)")
        validate.add_argument("--json", action="store_true", help="print diagnostics as JSON")

        render = commands.add_parser("render", help="print the first batch's request(s)")
        render.add_argument("file")
        render.add_argument(
            "--endpoint",
            required=True,
            choices=["create_list", "add_users", "remove_users", "update_users"],
        )
        render.add_argument(
            "--users", type=int, default=None, help="users in the batch (default: a full batch)"
        )
        render.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a Connect-modal value or a mapping choice; repeat the flag",
        )
        render.add_argument("--cohort-name", default="Power users")
        render.add_argument("--cohort-id", default="cohort-1")
        render.add_argument("--list-id", default="list-1")
        render.add_argument(
            "--reveal",
            action="store_true",
            help="print secret values (tokens, keys) in clear; masked by default",
        )

        export = commands.add_parser("export", help="print a stored integration's manifest")
        export.add_argument("integration_id", type=int)

        imported = commands.add_parser("import", help="create a draft from a manifest file")
        imported.add_argument("file")
        imported.add_argument("--org", type=int, required=True, help="ORG ID to import into")

        self.extend_parser(commands)

    def extend_parser(self, commands: _SubParsersAction[CommandParser]) -> None:
        """Further actions: `test` runs a real test against the partner's endpoint."""
        test = commands.add_parser(
            "test",
            help="run a test against the partner's endpoint and print every exchange",
        )
        test.add_argument("file", help="manifest JSON file ('-' for standard input)")
        test.add_argument(
            "--var",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="a Connect-modal value or a mapping choice; repeat the flag",
        )
        users = test.add_mutually_exclusive_group()
        users.add_argument("--users", type=int, default=None, help="generated test users (25)")
        users.add_argument("--csv", default=None, help="CSV of test users with an operation column")
        test.add_argument("--project", type=int, default=None, metavar="PROJECT_ID")
        test.add_argument(
            "--only",
            choices=["create_list", "add_users", "remove_users", "update_users"],
            default=None,
            help="test one endpoint instead of the full run",
        )
        test.add_argument("--list-id", default=None, help="the list for add/remove alone")
        test.add_argument(
            "--no-retries", action="store_true", help="one attempt per request: see raw failures"
        )

    def handle(self, *args: object, action: str, **options: Any) -> None:
        handler = getattr(self, f"handle_{action}")
        try:
            handler(**options)
        except ManifestError as error:
            self._print_diagnostics(error.diagnostics)
            raise SystemExit(EXIT_INVALID) from None

    # --- actions -------------------------------------------------------------------

    def handle_validate(self, *, file: str, json: bool = False, **_: object) -> None:
        diagnostics = check_manifest(self._load(file))
        errors = [d for d in diagnostics if d.is_error]
        if json:
            self.stdout.write(
                _dumps({"valid": not errors, "diagnostics": [d.as_dict() for d in diagnostics]})
            )
        else:
            self._print_diagnostics(diagnostics)
            summary = (
                f"{len(errors)} error(s), {len(diagnostics) - len(errors)} warning(s)"
                if diagnostics
                else "no problems"
            )
            stream = self.stderr if errors else self.stdout
            stream.write(f"{'invalid' if errors else 'valid'}: {summary}")
        if errors:
            raise SystemExit(EXIT_INVALID)

    def handle_render(
        self,
        *,
        file: str,
        endpoint: str,
        users: int | None,
        var: list[str],
        cohort_name: str,
        cohort_id: str,
        list_id: str,
        reveal: bool = False,
        **_: object,
    ) -> None:
        manifest = normalize_manifest(self._load(file))
        integration = compile_manifest(manifest)
        if endpoint not in integration.endpoint_names:
            raise CommandError(
                f"this {integration.integration_type}-based integration has no "
                f"{endpoint} endpoint ({', '.join(integration.endpoint_names)})"
            )
        values, mapping = self._vars(manifest, var)
        sample = sample_context(manifest, values=values, mapping=mapping)
        context = RenderContext(
            values=sample.values,
            mapping=sample.mapping,
            cohort_id=cohort_id,
            cohort_name=cohort_name,
            list_id=list_id,
        )
        batch: list[dict[str, Any]] = []
        batch_id = None
        if endpoint in BATCH_ENDPOINTS:
            count = integration.batch_size(endpoint) if users is None else users
            if count < 0:
                raise CommandError("--users must be 0 or more")
            batch = generate_users(min(count, integration.batch_size(endpoint)))
            batch_id = batch_id_for(
                f"cli:{cohort_id}", endpoint, (str(user["user_id"]) for user in batch)
            )
        requests = []
        for name in _requests_of(integration, endpoint):
            per_user = integration.is_per_user(name)
            users_of_request = batch[:1] if per_user else batch
            with_ids = name == endpoint and integration.lookup_of(endpoint) is not None
            try:
                request = integration.build_request(
                    name,
                    context=context,
                    users=users_of_request,
                    batch_id=batch_id,
                    in_cohort=True if endpoint == "update_users" else None,
                    partner_ids=[f"partner-id-{i + 1}" for i in range(len(users_of_request))]
                    if with_ids
                    else None,
                )
            except RenderError as error:
                raise CommandError(f"{error.path or name}: {error.message}") from None
            # Secrets (a token, a key, a Basic credential made of them) are masked where they
            # stand, as on every page; --reveal shows what would really be sent.
            secrets = request.secrets
            body: Any = None
            if request.body is not None:
                text = request.body.decode("utf-8")
                text = text if reveal else mask_text(text, secrets)
                body = json.loads(text) if _is_json(request.headers) else text
            shown: dict[str, Any] = {
                "method": request.method,
                "url": request.url if reveal else scrub_url(request.url, secrets),
                "headers": dict(
                    request.headers if reveal else mask_headers(request.headers, secrets)
                ),
                "body": body,
            }
            if name != endpoint or per_user:
                shown = {"request": name, **shown}
            if per_user:
                shown["note"] = "sent once per user; this is the first user's request"
            requests.append(shown)
        document = {"requests": requests}
        self.stdout.write(_dumps(document))

    def handle_export(self, *, integration_id: int, **_: object) -> None:
        from integrations.manifests import manifest_of
        from integrations.models import Integration
        from syncengine.core.manifest.normalize import canonical_json

        integration = Integration.objects.filter(pk=integration_id).first()
        if integration is None:
            raise CommandError(f"no integration with id {integration_id}")
        self.stdout.write(canonical_json(manifest_of(integration)).decode("utf-8"), ending="")

    def handle_import(self, *, file: str, org: int, **_: object) -> None:
        from integrations import actions
        from portal.errors import ActionError
        from portal.models import Organization

        organization = Organization.objects.filter(pk=org).first()
        if organization is None:
            raise CommandError(f"no organisation with ORG ID {org}")
        try:
            integration = actions.integration_import(
                acting_user=None, org=organization, manifest=self._load(file)
            )
        except ActionError as error:
            for detail in error.details:
                self.stderr.write(f"error {detail['path'] or '(manifest)'}: {detail['message']}")
            raise CommandError(error.message) from None
        self.stdout.write(
            f"imported as integration {integration.pk} "
            f"({integration.display_name}) in {organization.name}"
        )

    def handle_test(
        self,
        *,
        file: str,
        var: list[str],
        users: int | None,
        csv: str | None,
        project: int | None,
        only: str | None,
        list_id: str | None,
        no_retries: bool,
        **_: object,
    ) -> None:
        """Synchronous (no broker): the worker's test-run code with a printing observer.
        Exit status 0 only when the test passed."""
        from portal import heap
        from portal.models import Project
        from syncengine import cli

        heap.settle()  # what is loaded now is never garbage; the test allocates in bulk
        manifest = normalize_manifest(self._load(file))
        compile_manifest(manifest)  # a ManifestError prints its diagnostics and exits 1
        values, mapping = self._vars(manifest, var)
        try:
            project_label = None
            if project is not None:
                found = Project.objects.filter(public_id=project).first()
                if found is None:
                    raise CommandError(f"no project with Project ID {project}")
                project_label = f"{found.name} ({found.public_id})"
            chosen = cli.users_from_options(manifest, users=users, csv_path=csv, mapping=mapping)
            passed = cli.run_cli_test(
                manifest,
                values=values,
                mapping=mapping,
                users=chosen,
                only=only,
                list_id=list_id,
                no_retries=no_retries,
                project_label=project_label,
                out=self.stdout,
                err=self.stderr,
            )
        except CommandError:
            raise
        except cli.CliTestError as error:
            raise CommandError(str(error)) from None
        except Exception as crash:  # never a traceback: one line, exit status 1
            raise CommandError(f"the test stopped: {type(crash).__name__}") from None
        if not passed:
            raise SystemExit(EXIT_INVALID)

    # --- helpers -------------------------------------------------------------------

    def _load(self, file: str) -> Any:
        if file == "-":
            return load_manifest(sys.stdin.buffer.read())
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"{file}: no such file")
        return load_manifest(path.read_bytes())

    def _vars(
        self, manifest: dict[str, Any], pairs: list[str]
    ) -> tuple[dict[str, str], dict[str, str]]:
        """Connect-modal values and the mapping from `--var NAME=VALUE` pairs: each NAME a
        field of the manifest, a select's VALUE one of its options."""
        fields = {
            field["variable"]: (section, field)
            for section in ("custom_fields", "mapping_fields")
            for field in manifest.get(section, [])
            if isinstance(field, dict) and isinstance(field.get("variable"), str)
        }
        values: dict[str, str] = {}
        mapping: dict[str, str] = {}
        for pair in pairs:
            name, sep, value = pair.partition("=")
            name = name.strip()
            if not sep or not name:
                raise CommandError(f"--var {pair!r}: expected NAME=VALUE")
            if name not in fields:
                known = ", ".join(fields) or "none"
                raise CommandError(f"--var {name}: not a field of this integration ({known})")
            section, field = fields[name]
            options = option_values(field) if field.get("type") in SELECT_TYPES else []
            if options and value not in options:
                raise CommandError(
                    f"--var {name}: {value!r} is not one of its options ({', '.join(options)})"
                )
            (mapping if section == "mapping_fields" else values)[name] = value
        return values, mapping

    def _print_diagnostics(self, diagnostics: list[Diagnostic]) -> None:
        for d in diagnostics:
            where = d.path or "(manifest)"
            if d.line is not None:
                where += f":{d.line}:{d.column}"
            stream = self.stderr if d.is_error else self.stdout
            stream.write(f"{d.severity} {where} [{d.code}] {d.message}")


def _requests_of(integration: Any, endpoint: str) -> list[str]:
    """The requests an endpoint sends, in order: find or lookup, create, then its own."""
    names = [f"{endpoint}.find", f"{endpoint}.lookup", f"{endpoint}.create"]
    return [name for name in names if name in integration.request_names] + [endpoint]


def _is_json(headers: tuple[tuple[str, str], ...]) -> bool:
    content_type = next((v for k, v in headers if k.lower() == "content-type"), "")
    return "json" in content_type.lower()


def _dumps(document: Any) -> str:
    return json.dumps(document, ensure_ascii=False, indent=2)
