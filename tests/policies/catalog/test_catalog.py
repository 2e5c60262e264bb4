"""The catalog's fingerprint, hashed in pieces, is the hash of its canonical JSON: every
process (gateway, command line, admin) names a catalog alike."""

from __future__ import annotations

import hashlib
import json

from bench.catalog_scale import catalog_data
from policies import Catalog


def whole(catalog: Catalog) -> str:
    canonical = json.dumps(catalog.to_dict(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def test_the_fingerprint_is_the_canonical_jsons_hash() -> None:
    data = catalog_data(40)
    data["modules"]["m1"]["description"] = 'é "quoted" \\ \u2028'
    data["routes"].insert(
        0,
        {
            "mount": "/api",
            "routes": [{"path": "/x/{id:int}", "action": "m1.f1"}, {"websocket": "/ws"}],
            "redirect_slashes": False,
        },
    )
    data.update(redirect_slashes=False, head_for_get=False, convertors=["slug"])
    data["routes"].append({"path": "/s/{s:slug}", "action": "m2.f2"})
    for catalog in (Catalog(), Catalog.from_dict(data), Catalog.from_dict(catalog_data(3))):
        assert catalog.fingerprint() == whole(catalog)
    other = Catalog.from_dict(catalog_data(40))
    assert Catalog.from_dict(data).fingerprint() != other.fingerprint()
