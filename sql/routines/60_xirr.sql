-- Money-weighted return: the annual rate r at which a ledger's cash flows are worth nothing
-- together, sum(amount_i * (1 + r) ^ (-(day_i - day_0) / 365)) = 0 (XIRR, docs/activities.md).
--
-- amounts: the flows from one side's view (the investor's: money put in negative, money taken
-- out and the end value positive; the other sign convention gives the same rate).
-- days: the day of each flow as a number (a date minus any fixed date), in any order.
--
-- Solved for x = ln(1 + r), so every rate above -100 % is a finite x and no power overflows:
-- 1. a bracket: the sign of the value is compared across the cells of a grid of x, nearest to
--    0 first (0, +-0.05, +-0.1, +-0.2, ... +-700: r from -100 % to 1e304); the first cell
--    whose ends differ in sign holds the rate, so of several rates the one closest to 0 % (in
--    x) is returned;
-- 2. Newton's method inside that bracket, falling back to bisection whenever a step would
--    leave it or shrink it too little; at most 200 steps, stopping when the bracket is as
--    narrow as a float8 can tell apart.
-- Null when there is no rate: fewer than two flows, no flow of each sign, every flow on one
-- day, arrays of different lengths or with nulls, or no sign change on the grid.
create or replace function ops.xirr(amounts float8[], days float8[])
returns float8
language plpgsql
immutable
parallel safe
as $$
declare
    n integer := coalesce(array_length(amounts, 1), 0);
    t float8[];            -- years from the first flow
    t_max float8;
    grid float8[] := array[0.0::float8];
    step float8 := 0.05;
    lo float8;
    hi float8;
    g_lo float8;
    g_hi float8;
    x float8;
    g float8;
    dg float8;
    x_new float8;
    a float8;
    b float8;
    ga float8;
    gb float8;
    found_bracket boolean := false;
    i integer;
    k integer;
begin
    if n < 2 or coalesce(array_length(days, 1), 0) <> n
        or array_position(amounts, null) is not null or array_position(days, null) is not null
        or not (0 < any (amounts)) or not (0 > any (amounts)) then
        return null;
    end if;
    select array_agg((flow_day - first_day) / 365.0 order by ordinality), max(flow_day - first_day) / 365.0
    into t, t_max
    from unnest(days) with ordinality as flows (flow_day, ordinality)
    cross join (select min(flow_day) as first_day from unnest(days) as all_days (flow_day)) as origin;
    if t_max <= 0 then
        return null;
    end if;

    -- the grid, nearest to 0 first: 0.05, -0.05, 0.1, -0.1, ... up to 700
    while step < 700 loop
        grid := grid || step || -step;
        step := step * 2;
    end loop;
    grid := grid || 700.0::float8 || -700.0::float8;

    -- cells [previous point on the same side, point], in the order of the grid
    for k in 2 .. array_length(grid, 1) loop
        b := grid[k];
        a := case when k <= 3 then 0.0 else grid[k - 2] end;
        ga := ops.xirr_value(amounts, t, t_max, a);
        gb := ops.xirr_value(amounts, t, t_max, b);
        -- an exact zero on the grid is a rate (at +-700 it is the terms underflowing)
        if ga = 0 and abs(a) < 700 then
            return exp(a) - 1;
        end if;
        if gb = 0 and abs(b) < 700 then
            return exp(b) - 1;
        end if;
        if sign(ga) <> sign(gb) then
            lo := least(a, b);
            hi := greatest(a, b);
            g_lo := case when lo = a then ga else gb end;
            g_hi := case when hi = a then ga else gb end;
            found_bracket := true;
            exit;
        end if;
    end loop;
    if not found_bracket then
        return null;
    end if;

    -- safeguarded Newton inside [lo, hi]
    x := (lo + hi) / 2;
    for i in 1 .. 200 loop
        g := ops.xirr_value(amounts, t, t_max, x);
        if g = 0 then
            return exp(x) - 1;
        end if;
        if sign(g) = sign(g_lo) then
            lo := x;
            g_lo := g;
        else
            hi := x;
            g_hi := g;
        end if;
        exit when hi - lo <= 4e-16 * greatest(1.0, abs(x));
        dg := ops.xirr_slope(amounts, t, t_max, x);
        x_new := case when dg <> 0 then x - g / dg end;
        -- bisect when Newton leaves the bracket or would not halve it
        if x_new is null or x_new <= lo or x_new >= hi
            or abs(x_new - x) > (hi - lo) / 2 then
            x_new := (lo + hi) / 2;
        end if;
        exit when x_new = x;
        x := x_new;
    end loop;
    return exp(x) - 1;
end
$$;

-- The flows' value at x = ln(1 + r), scaled by a positive factor so no term overflows (the
-- sign and the roots are those of the unscaled value): for x >= 0 each term is
-- amount * exp(-x t); for x < 0 every term is multiplied by exp(x t_max).
create or replace function ops.xirr_value(amounts float8[], t float8[], t_max float8, x float8)
returns float8
language sql
immutable
parallel safe
as $$
    select sum(
        flows.amount * case
            when exponent.arg < -700 then 0.0
            else exp(exponent.arg)
        end
    )
    from unnest(amounts, t) as flows (amount, years)
    cross join lateral (
        select case when x >= 0 then -x * flows.years else x * (t_max - flows.years) end as arg
    ) as exponent
$$;

-- The derivative of ops.xirr_value in x (of the same scaled function).
create or replace function ops.xirr_slope(amounts float8[], t float8[], t_max float8, x float8)
returns float8
language sql
immutable
parallel safe
as $$
    select sum(
        flows.amount * exponent.factor * case
            when exponent.arg < -700 then 0.0
            else exp(exponent.arg)
        end
    )
    from unnest(amounts, t) as flows (amount, years)
    cross join lateral (
        select
            case when x >= 0 then -x * flows.years else x * (t_max - flows.years) end as arg,
            case when x >= 0 then -flows.years else t_max - flows.years end as factor
    ) as exponent
$$;
