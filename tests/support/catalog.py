"""The demo's catalog, as the tests load it into the store."""

from __future__ import annotations

DEMO_CATALOG = {
    "modules": {
        "projects": {
            "description": "Projects",
            "functionalities": {
                "list": {"routes": ["GET /projects"]},
                "create": {"routes": ["POST /projects"]},
                "delete": {"routes": ["DELETE /projects/{project_id}"]},
            },
        },
        "members": {
            "functionalities": {
                "invite": {"routes": ["POST /members"]},
                "remove": {"routes": ["DELETE /members/{member_id}"]},
            }
        },
        "billing": {"functionalities": {"read": {"routes": ["GET /billing"]}}},
    }
}
