"""HTTP routes for operators: vaults, their instances, retention policy and usage."""

from __future__ import annotations

import azure.functions as func

from functions._http import body, handle, query
from shared.services import instances, policies, usage_report, vaults

bp = func.Blueprint()
ANON = func.AuthLevel.ANONYMOUS


@bp.route(route="vaults", methods=["POST"], auth_level=ANON)
def create_vault(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: vaults.create_vault(rt, p, body(req, vaults.VaultCreate)), status=201)


@bp.route(route="vaults", methods=["GET"], auth_level=ANON)
def list_vaults(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: {"items": vaults.list_vaults(rt, p)})


@bp.route(route="vaults/{vault}", methods=["GET"], auth_level=ANON)
def get_vault(req: func.HttpRequest) -> func.HttpResponse:
    def action(rt, p):
        p.require("operator", "vault_admin")
        return vaults.public_view(vaults.resolve_vault(rt, p, req.route_params["vault"]))

    return handle(req, action)


@bp.route(route="vaults/{vault}", methods=["PATCH"], auth_level=ANON)
def update_vault(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: vaults.update_vault(rt, p, req.route_params["vault"], body(req, vaults.VaultUpdate)))


@bp.route(route="vaults/{vault}/instances", methods=["GET"], auth_level=ANON)
def list_instances(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: {"items": instances.list_instances(rt, p, req.route_params["vault"])})


@bp.route(route="vaults/{vault}/instances/{instance}", methods=["GET"], auth_level=ANON)
def get_instance(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: instances.get_instance(rt, p, req.route_params["vault"], req.route_params["instance"]))


@bp.route(route="vaults/{vault}/instances/{instance}/revoke", methods=["POST"], auth_level=ANON)
def revoke_instance(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: instances.revoke_instance(rt, p, req.route_params["vault"], req.route_params["instance"]))


@bp.route(route="vaults/{vault}/instances/{instance}/token", methods=["POST"], auth_level=ANON)
def rotate_instance_token(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: instances.rotate_token(rt, p, req.route_params["vault"], req.route_params["instance"]))


@bp.route(route="vaults/{vault}/registration-key", methods=["POST"], auth_level=ANON)
def issue_registration_key(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: vaults.issue_registration_key(rt, p, req.route_params["vault"]))


@bp.route(route="vaults/{vault}/policy", methods=["GET"], auth_level=ANON)
def get_policy(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: policies.get_policies(rt, p, req.route_params["vault"]))


@bp.route(route="vaults/{vault}/policy", methods=["PUT"], auth_level=ANON)
def put_policy(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: policies.set_policy(rt, p, req.route_params["vault"], body(req, policies.PolicyRequest)))


@bp.route(route="vaults/{vault}/usage", methods=["GET"], auth_level=ANON)
def get_usage(req: func.HttpRequest) -> func.HttpResponse:
    return handle(req, lambda rt, p: usage_report.month_report(rt, p, req.route_params["vault"], query(req, usage_report.UsageQuery)))
