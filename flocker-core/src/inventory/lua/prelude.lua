local a = ...
local gp, LS = zfs.get_prop, zfs.list
local P, U, UALL, HOLDS = a.props or {}, a.uprops, a.uall, a.holds
local NP = #P

local function fetch(n)
  local t = {}
  for i = 1, NP do t[i] = (gp(n, P[i])) end
  if UALL then
    local u = {}
    for k, v, s in LS.user_properties(n) do u[k] = {v, s} end
    t.u = u
  elseif U ~= nil then
    local u = {}
    for i = 1, #U do
      local v, s = gp(n, U[i])
      if v ~= nil then u[U[i]] = {v, s} end
    end
    t.u = u
  end
  if HOLDS then
    local h = {}
    for k, v in LS.holds(n) do h[k] = v end
    t.h = h
  end
  return t
end
