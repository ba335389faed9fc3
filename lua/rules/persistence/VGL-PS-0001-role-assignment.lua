--[[
VGL-PS-0001 and VGL-PS-0006: role assignment in Azure RBAC or Entra ID
(MITRE T1098.003, Account Manipulation: Additional Cloud Roles).

Azure Activity `Microsoft.Authorization/roleAssignments/write` (succeeded)
and Entra ID audit "Add member to role" / "Add eligible member to role". The
two rules split the grants by the role: VGL-PS-0001 (high) for Owner,
Contributor, User Access Administrator, RBAC Administrator and the privileged
Entra ID directory roles (Global Administrator, Privileged Role
Administrator, ...); VGL-PS-0006 (medium) for every other role, and for
records that do not name the role. The role is read from
azure.activity.role_definition_id (Azure) and from the audit record's
targetResources[].modifiedProperties "Role.DisplayName" / "Role.TemplateId"
(Entra ID, both the diagnostic export and the Sentinel AuditLogs shape).

Both are stateless (where + match), not on_event: Activity logs often arrive
out of order, and stateless rules still see events later than
limits.allowed_lateness. One file holds both so they share the role tables.
]]

-- Azure built-in role definition ids
local azure_roles = {
  ["8e3af657-a8ff-443c-a75c-2fe8c4bcb635"] = "Owner",
  ["b24988ac-6180-42a0-ab88-20f7382dd24c"] = "Contributor",
  ["18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"] = "User Access Administrator",
  ["f58310d9-a9f6-439a-9e8d-f62e7b41a168"] = "Role Based Access Control Administrator",
}

-- Entra ID directory roles that can take over the tenant or its users
local entra_roles = {
  ["global administrator"] = true, ["company administrator"] = true,
  ["privileged role administrator"] = true,
  ["privileged authentication administrator"] = true,
  ["security administrator"] = true, ["hybrid identity administrator"] = true,
  ["application administrator"] = true, ["cloud application administrator"] = true,
  ["conditional access administrator"] = true, ["authentication administrator"] = true,
  ["user administrator"] = true, ["exchange administrator"] = true,
  ["sharepoint administrator"] = true, ["intune administrator"] = true,
  ["groups administrator"] = true, ["helpdesk administrator"] = true,
}
local entra_templates = {
  ["62e90394-69f5-4237-9190-012177145e10"] = "Global Administrator",
  ["e8611ab8-c189-46e8-94e1-60213ab1f814"] = "Privileged Role Administrator",
  ["7be44c8a-adaf-4e2a-84d6-ab2649e08a13"] = "Privileged Authentication Administrator",
}

local MAX_ITEMS = 16

-- "\"Global Administrator\"" (JSON text in the audit record) -> Global Administrator
local function unquote(s)
  if type(s) ~= "string" then
    return nil
  end
  return (s:gsub('^%s*"', ""):gsub('"%s*$', ""))
end

-- The Entra ID role of an audit record, from targetResources[].modifiedProperties.
local function entra_role(e)
  local resources = e["properties.targetResources"] or e["TargetResources"] or
                    e["targetResources"]
  if type(resources) ~= "userdata" then
    return nil
  end
  for i = 1, math.min(#resources, MAX_ITEMS) do
    local resource = resources[i]
    local props = type(resource) == "userdata" and resource.modifiedProperties
    if type(props) == "userdata" then
      for k = 1, math.min(#props, MAX_ITEMS) do
        local p = props[k]
        local name = type(p) == "userdata" and p.displayName
        if name == "Role.DisplayName" then
          return unquote(p.newValue)
        elseif name == "Role.TemplateId" then
          local id = unquote(p.newValue)
          if id and entra_templates[id:lower()] then
            return entra_templates[id:lower()]
          end
        end
      end
    end
  end
  return nil
end

-- The role of an assignment: its name (or id) and whether it is privileged.
local function role_of(e)
  local def = e["azure.activity.role_definition_id"]
  if type(def) == "string" then
    -- ".../roleDefinitions/<guid>": the last 36 characters (no unanchored
    -- pattern over a field of unbounded length)
    local guid = def:sub(-36):lower()
    local name = azure_roles[guid]
    return name or guid, name ~= nil
  end
  local name = entra_role(e)
  return name, name ~= nil and entra_roles[name:lower()] == true
end

local function privileged(e)
  local _, priv = role_of(e)
  return priv
end

local where = {
  ["event.action"] = {
    "Microsoft.Authorization/roleAssignments/write",
    "Add member to role",
    "Add eligible member to role",
  },
  ["event.outcome"] = "success",
}

local entities = {
  account = {"vigil.user", "user.target.name", "user.target.id"},
  ip = "source.ip",
  resource = "azure.resource.id",
}

return {
  vigil.rule {
    id = "VGL-PS-0001",
    title = "Privileged role assigned in Azure RBAC or Entra ID",
    description = "A principal was granted a privileged role: Azure Owner, Contributor, " ..
      "User Access Administrator or RBAC Administrator, or a privileged Entra ID " ..
      "directory role such as Global Administrator.",
    severity = "high",
    tactic = "Persistence",
    technique = "T1098.003",
    tags = {"azure", "entra", "iam"},
    where = where,
    match = privileged,
    entities = entities,
    suppress = "1h",
  },
  vigil.rule {
    id = "VGL-PS-0006",
    title = "Role assigned in Azure RBAC or Entra ID",
    description = "A principal was granted an Azure RBAC role or an Entra ID directory role " ..
      "that is not in the privileged list (or the record does not name the role).",
    severity = "medium",
    tactic = "Persistence",
    technique = "T1098.003",
    tags = {"azure", "entra", "iam"},
    where = where,
    match = function(e)
      return not privileged(e)
    end,
    entities = entities,
    suppress = "1h",
  },
}
