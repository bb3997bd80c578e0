"""The registry API: Parties and bodies, instruments and their status, designations and their announcement,
acknowledgements and Party profiles — thin over the registry's services and selectors."""

from ninja import Router

from cybercoop.registry.api import designations, instruments, parties

router = Router(tags=["registry"])
router.add_router("", parties.router)
router.add_router("", instruments.router)
router.add_router("", designations.router)
