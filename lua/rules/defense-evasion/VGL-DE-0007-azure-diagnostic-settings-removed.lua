--[[
VGL-DE-0007: Azure diagnostic setting deleted and not re-created within an
hour (MITRE T1562.008, Impair Defenses: Disable or Modify Cloud Logs).

Diagnostic settings send a resource's logs (Key Vault access, Entra ID
sign-ins, NSG flow, activity) to the SIEM. Deleting one blinds the defenders;
during planned changes the setting is written again shortly after. An absence
rule: a succeeded microsoft.insights/diagnosticSettings/delete that is not
followed by a succeeded .../write on the same resource (azure.resource.id)
within 1 hour. The alert comes an hour after the delete (plus
limits.allowed_lateness in a live stream).
]]

return vigil.rule {
  id = "VGL-DE-0007",
  title = "Azure diagnostic setting deleted and not restored",
  description = "A diagnostic setting (log export) was deleted and was not re-created " ..
    "within 1 hour.",
  severity = "high",
  tactic = "Defense Evasion",
  technique = "T1562.008",
  tags = {"azure", "activity-log", "logging"},
  where = {
    ["event.dataset"] = "azure.activitylogs",
    ["event.outcome"] = "success",
    ["event.action"] = {
      "microsoft.insights/diagnosticSettings/delete",
      "microsoft.insights/diagnosticSettings/write",
      "microsoft.aadiam/diagnosticSettings/delete",
      "microsoft.aadiam/diagnosticSettings/write",
    },
  },
  absence = {
    by = "azure.resource.id",
    after = { where = { ["event.action"] = vigil.endswith "/delete" } },
    missing = { where = { ["event.action"] = vigil.endswith "/write" } },
    within = "1h",
  },
  entities = { account = "vigil.user", ip = "source.ip", resource = "azure.resource.id" },
  suppress = "1h",
}
