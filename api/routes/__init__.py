"""Every router of `/api/v1`, in one place."""

from fastapi import APIRouter

from api.routes import (
    admin,
    captions,
    compute_webhook,
    files,
    generations,
    guidelines,
    login,
    organizations,
    presets,
    products,
    realtime,
    shooting_looks,
    shootings,
    shot_types,
    shots,
    styles,
    subjects,
    uploads,
    users,
    utils,
)

api_router = APIRouter()
for module in (
    admin,
    login,
    users,
    organizations,
    products,
    utils,
    shooting_looks,
    shootings,
    shots,
    guidelines,
    presets,
    shot_types,
    styles,
    subjects,
    realtime,
    generations,
    files,
    compute_webhook,
    uploads,
    captions,
):
    api_router.include_router(module.router)
