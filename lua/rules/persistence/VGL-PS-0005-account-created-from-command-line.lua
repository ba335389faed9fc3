--[[
VGL-PS-0005: account created from the command line (MITRE T1136.001,
Create Account: Local Account).

`net user NAME PASSWORD /add` (net.exe or net1.exe) in a process creation
event. Administrators use the GUI, scripts or provisioning systems; a
hand-typed net user /add is what an intruder does to keep a way in. Domain
accounts (/domain) are T1136.002 and left to directory auditing (4720 on
the domain controllers).
]]

return vigil.rule {
  id = "VGL-PS-0005",
  title = "Local account created with net user /add",
  description = "A command line created a local account with net user ... /add.",
  severity = "medium",
  tactic = "Persistence",
  technique = "T1136.001",
  tags = {"windows", "process", "account"},
  where = {
    ["event.category"] = "process",
    ["process.command_line"] = vigil.re [=[(^|[\/[:space:]"])net1?(\.exe)?"?[[:space:]]+user[[:space:]]+[^[:space:]/]]=],
  },
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    return (cmd:find(" /add", 1, true) ~= nil) and
           not (cmd:find(" /domain", 1, true) or cmd:find("%s/do%s") or cmd:find("%s/do$"))
  end,
  entities = { host = "vigil.host", account = "vigil.user" },
  suppress = "1h",
}
