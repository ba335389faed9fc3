--[[
VGL-PS-0004: local account created and added to Administrators (MITRE
T1136.001, Create Account: Local Account).

A sequence on one host within an hour: an account is created (Security 4720,
or a `net user NAME PASSWORD /add` command line), then an account is added to
the Administrators group (4732 with group Administrators / SID S-1-5-32-544,
or `net localgroup administrators NAME /add`). A backdoor admin that
survives a password reset of the real accounts.
]]

-- process events are many: look at the command line of net.exe / net1.exe only
local net = { ["net.exe"] = true, ["net1.exe"] = true }

local function net_command(e)
  local name = e["process.name"]
  local cmd = e["process.command_line"]
  if type(name) ~= "string" or not net[name:lower()] or type(cmd) ~= "string" then
    return nil
  end
  return cmd:lower()
end

local function created(e)
  if e["event.action"] == "added-user-account" then
    return true
  end
  local cmd = net_command(e)
  if not cmd then
    return false
  end
  -- plain searches and fixed-length patterns: linear in the command line
  return cmd:find("%suser%s") ~= nil and cmd:find(" /add", 1, true) ~= nil and
         not (cmd:find(" /domain", 1, true) or cmd:find("%s/do%s") or cmd:find("%s/do$"))
end

local function added_to_admins(e)
  if e["event.action"] == "added-member-to-group" then
    local group = e["group.name"]
    return (type(group) == "string" and group:lower() == "administrators") or
           e["winlog.event_data.TargetSid"] == "S-1-5-32-544"
  end
  local cmd = net_command(e)
  return cmd ~= nil and cmd:find("%slocalgroup%s") ~= nil and
         cmd:find("administrators", 1, true) ~= nil and cmd:find(" /add", 1, true) ~= nil
end

return vigil.rule {
  id = "VGL-PS-0004",
  title = "Local account created and added to Administrators",
  description = "On one host, an account was created and then an account was added to the " ..
    "local Administrators group within 1 hour.",
  severity = "high",
  tactic = "Persistence",
  technique = "T1136.001",
  tags = {"windows", "account"},
  where = { ["event.category"] = {"iam", "process"} },
  sequence = {
    by = "vigil.host",
    within = "1h",
    steps = {
      { match = created },
      { match = added_to_admins },
    },
  },
  entities = { host = "vigil.host", account = "vigil.user" },
  suppress = "1h",
}
