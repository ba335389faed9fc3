--[[
VGL-EX-0003: scheduled task created right after a network logon of the same
account on the same host (MITRE T1053.005, Scheduled Task/Job: Scheduled
Task), i.e. remote task creation seen on the target.

Sequence by host and account within 1 minute: 4624 logon type 3 (network),
then 4698 "a scheduled task was created" (vigil.user is the creator). Local
task creation has no network logon just before it.
]]

return vigil.rule {
  id = "VGL-EX-0003",
  title = "Scheduled task created remotely (network logon then 4698)",
  description = "An account logged on over the network and created a scheduled task on the " ..
    "same host within 1 minute.",
  severity = "high",
  tactic = "Execution",
  technique = "T1053.005",
  tags = {"windows", "lateral-movement"},
  where = {
    ["event.action"] = {"logged-in", "scheduled-task-created"},
    ["user.name"] = vigil.neg(vigil.endswith "$"),
  },
  sequence = {
    by = {"vigil.host", "vigil.user"},
    within = "1m",
    steps = {
      { where = { ["event.action"] = "logged-in", ["winlog.logon.type"] = "3" } },
      { where = { ["event.action"] = "scheduled-task-created" } },
    },
  },
  entities = { host = "vigil.host", account = "vigil.user", ip = "source.ip" },
  suppress = "1h",
}
