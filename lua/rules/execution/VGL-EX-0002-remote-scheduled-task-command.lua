--[[
VGL-EX-0002: scheduled task created on a remote computer (MITRE T1053.005,
Scheduled Task/Job: Scheduled Task).

`schtasks /create ... /s HOST` registers a task on another machine over RPC:
lateral movement and remote execution with a task that often runs as
SYSTEM. Seen on the source host, in its process creation events (4688,
Sysmon 1, Defender for Endpoint). VGL-EX-0003 sees the same on the target.
]]

return vigil.rule {
  id = "VGL-EX-0002",
  title = "Scheduled task created on a remote computer (schtasks /s)",
  description = "schtasks /create was run with /s, registering a task on another computer.",
  severity = "high",
  tactic = "Execution",
  technique = "T1053.005",
  tags = {"windows", "process", "lateral-movement"},
  where = {
    ["event.category"] = "process",
    -- a /s HOST option (not /sc, /sd, /st): the regex has no ".*", the rest is
    -- plain substring search in match, so long command lines cost linear time
    ["process.command_line"] = vigil.re [=[[[:space:]][/-]s[[:space:]]+[^[:space:]/-]]=],
  },
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    return cmd:find("schtasks", 1, true) ~= nil and
           (cmd:find(" /create", 1, true) ~= nil or cmd:find(" -create", 1, true) ~= nil)
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
