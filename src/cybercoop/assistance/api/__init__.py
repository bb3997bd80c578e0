"""The API of requests for assistance under /api/v1/cases: the inbox and outbox, a case and its timeline, and
one POST per action, as the screens offer them. Thin over the assistance services and selectors."""

from cybercoop.assistance.api import acts, assignments, cases, drafts

# The cases router holds the paths without an action (POST /cases itself, the lists, GET and PATCH of a case);
# the routers of actions add theirs under it.
router = cases.router
router.add_router("", drafts.router)
router.add_router("", acts.router)
router.add_router("", assignments.router)
