"""Liveness: public, cheap, and honest about the index and log sizes."""

from __future__ import annotations

from fastapi import APIRouter

from rights.api.deps import RegistryDep
from rights.api.schemas import Health

router = APIRouter(tags=["health"])


# HEAD too, for load balancers and uptime monitors (left out of OpenAPI: one operation per route).
@router.head("/healthz", include_in_schema=False)
@router.get("/healthz", response_model=Health, summary="Service is up")
def healthz(registry: RegistryDep) -> dict[str, object]:
    return {"status": "ok", "works_indexed": len(registry.engine), "log_size": registry.log.size()}
