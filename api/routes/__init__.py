"""Every router of `/api/v1`, in one place."""

from fastapi import APIRouter

from api.routes import login, organizations, products, users, utils

api_router = APIRouter()
for module in (login, users, organizations, products, utils):
    api_router.include_router(module.router)
