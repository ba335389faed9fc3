--[[
VGL-IM-0001: mass deletion of Azure resources (MITRE T1485, Data
Destruction).

One caller deletes at least 10 different Azure resources (azure.resource.id)
within 10 minutes, counting succeeded delete operations of the Azure
Activity log (each operation also logs Started/Accepted events: only the
Success ones count). Destruction or ransom of a subscription with a stolen
admin identity. Infrastructure-as-code pipelines tearing down environments
do it too: exclude their service principals.
]]

return vigil.rule {
  id = "VGL-IM-0001",
  title = "Mass deletion of Azure resources",
  description = "One caller deleted at least 10 different Azure resources within 10 minutes.",
  severity = "high",
  tactic = "Impact",
  technique = "T1485",
  tags = {"azure", "activity-log"},
  where = {
    ["event.dataset"] = "azure.activitylogs",
    ["event.type"] = "deletion",
    ["event.outcome"] = "success",
  },
  threshold = { by = "vigil.user", distinct = "azure.resource.id", count = 10, window = "10m" },
  entities = { account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
