--[[
VGL-DE-0005: WDigest plaintext credential caching turned on (MITRE T1112,
Modify Registry; prepares T1003.001).

Setting HKLM\SYSTEM\CurrentControlSet\Control\SecurityProviders\WDigest
\UseLogonCredential makes LSASS keep users' passwords in clear text again
(off by default since Windows 8.1 / 2012 R2), so the next mimikatz run gets
passwords instead of hashes. Seen as a command line (reg add, Set-ItemProperty,
New-ItemProperty) naming WDigest and UseLogonCredential; for registry events
(Sysmon 13) see the registry.path condition in docs/rule-pack.md.
]]

return vigil.rule {
  id = "VGL-DE-0005",
  title = "WDigest UseLogonCredential set (plaintext passwords in LSASS)",
  description = "A command line sets the WDigest UseLogonCredential registry value, which " ..
    "makes LSASS cache clear-text passwords.",
  severity = "high",
  tactic = "Defense Evasion",
  technique = "T1112",
  tags = {"windows", "process", "registry", "credential-dumping"},
  where = {
    ["event.category"] = "process",
    ["process.command_line"] = vigil.contains "uselogoncredential",
  },
  match = function(e)
    local cmd = e["process.command_line"]
    if type(cmd) ~= "string" then
      return false
    end
    cmd = cmd:lower()
    if not cmd:find("wdigest", 1, true) then
      return false
    end
    -- reading the value (reg query, Get-ItemProperty) is not setting it
    if cmd:find("reg[%.exe\"]*%s+query") or cmd:find("get%-itemproperty") then
      return false
    end
    -- setting it to 0 is the hardening, not the attack
    local data = cmd:match("/d%s+\"?(%w+)") or cmd:match("%-value%s+\"?(%w+)")
    return tonumber(data) ~= 0
  end,
  entities = { host = "vigil.host", account = "vigil.user", process = "process.executable" },
  suppress = "1h",
}
