"""The super.AI jobs surface (`/v1`): apps (projects) by UUID, jobs by numeric id or uuid, batches,
tags, review, bulk exports; `API-KEY` auth; errors as `{"message": ...}`."""
