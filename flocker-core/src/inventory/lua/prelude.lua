local a = ...
local gp, LS = zfs.get_prop, zfs.list
local P, U, UALL, HOLDS = a.props or {}, a.uprops, a.uall, a.holds
local NP = #P

local function sift(h, i, n)
  while true do
    local l = i * 2
    if l > n then return end
    local m = l
    if l < n and h[l + 1] > h[l] then m = l + 1 end
    if h[m] > h[i] then
      h[i], h[m] = h[m], h[i]
      i = m
    else
      return
    end
  end
end

-- The k (>= 1) smallest strings above `after` (all if nil) from iterator `it`: returns
-- them (unordered; if some were left out, h[1] is the largest kept), their count, and
-- whether some were left out. Integer-safe in stock Lua too.
local function pick(it, after, k)
  local h, n, more = {}, 0, false
  for s in it do
    if after == nil or s > after then
      if n < k then
        n = n + 1
        h[n] = s
        if n == k then
          for i = (n - n % 2) / 2, 1, -1 do sift(h, i, n) end
        end
      else
        more = true
        if s < h[1] then
          h[1] = s
          sift(h, 1, n)
        end
      end
    end
  end
  return h, n, more
end

local function walk(d, depth, out)
  out[#out + 1] = d
  if depth ~= 0 then
    for c in LS.children(d) do walk(c, depth - 1, out) end
  end
end

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
