--[[
VGL-EX-0001: PowerShell with an encoded command (MITRE T1059.001,
Command and Scripting Interpreter: PowerShell).

PowerShell accepts any unambiguous prefix of -EncodedCommand (-e, -ec, -en,
-enc, ... -EncodedCommand), in any case, with -, / or a Unicode dash
(en dash, em dash, horizontal bar) in front, followed by base64 text of the
UTF-16LE script. Malware and post-exploitation frameworks use it to hide the
script from the command line. The command line must start powershell or
pwsh (directly or from cmd /c ...) and the argument must look like base64
(16+ characters of the base64 alphabet).
]]

return vigil.rule {
  id = "VGL-EX-0001",
  title = "PowerShell with an encoded command",
  description = "PowerShell was started with -EncodedCommand (or a prefix of it) and a " ..
    "base64 argument.",
  severity = "medium",
  tactic = "Execution",
  technique = "T1059.001",
  tags = {"windows", "process", "powershell"},
  where = {
    ["event.category"] = "process",
    -- the flag and its argument; no ".*" in the pattern, so a long command line
    -- costs linear time (see docs/rules.md, "Regular expressions")
    ["process.command_line"] = vigil.re(
      [=[[[:space:]]([-/]|–|—|―)e(c|n|nc|nco|ncod|ncode|ncoded|ncodedc|ncodedco|ncodedcom|ncodedcomm|ncodedcomma|ncodedcomman|ncodedcommand)?]=] ..
      [=[[[:space:]]+["']?[a-z0-9+/]{16,}]=]),
  },
  -- ... of PowerShell (started directly or through cmd /c)
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    return cmd:find("powershell", 1, true) ~= nil or cmd:find("pwsh", 1, true) ~= nil
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
