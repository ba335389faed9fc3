--[[
VGL-DE-0004: certutil decodes a file (MITRE T1140, Deobfuscate/Decode Files
or Information).

certutil -decode / -decodehex turns base64 or hex text (pasted through echo,
or downloaded as "harmless" text) back into an executable: a classic way to
get a binary past content filters. Certificate work uses other verbs.
]]

return vigil.rule {
  id = "VGL-DE-0004",
  title = "certutil used to decode a file",
  description = "certutil was run with -decode or -decodehex.",
  severity = "medium",
  tactic = "Defense Evasion",
  technique = "T1140",
  tags = {"windows", "process", "lolbin"},
  where = {
    ["event.category"] = "process",
    ["process.command_line"] = vigil.re [=[[[:space:]][/-]decode(hex)?([[:space:]]|$)]=],
  },
  match = function(e)
    local cmd = e["process.command_line"]
    return type(cmd) == "string" and cmd:lower():find("certutil", 1, true) ~= nil
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
