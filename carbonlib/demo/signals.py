"""Synthetic but physically shaped telemetry for the demo province.

Weather: a humid subtropical climate like central Hunan (mean air temperature about
17.5 degC, January about 5 degC, July about 29 degC), with day-to-day synoptic anomalies
(AR(1) processes), cloudiness that scales clear-sky radiation, and humidity that gives VPD.

Flux towers (30 min): NEE = Reco - GPP, where GPP follows a rectangular-hyperbola light
response limited by VPD and cold, and Reco follows Lloyd & Taylor (1994) in air
temperature; plus heteroscedastic noise, low-turbulence underestimation at night,
source QC flags, random and block gaps, logger sentinel values (-9999) and a stuck
thermometer.

Meters (15 min or 1 h): industry load shapes (day/night, weekday, season, Spring
Festival and maintenance stops, heating/cooling demand), with communication outages
followed by a catch-up reading, stuck gateways, counter roll-over spikes and reversed
current transformers (negative readings).

Every random draw comes from a generator seeded by (seed, device, month), so a month can
be generated alone and the result does not depend on the order of generation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..lake.schema import METRICS

LOCAL_OFFSET_H = 8  # China Standard Time = UTC+8


@dataclass(frozen=True)
class Weather:
    """Daily synoptic state per county: temperature anomaly (K) and cloudiness (0 clear .. 1 overcast)."""

    first_day: pd.Timestamp
    t_anomaly: np.ndarray  # [county, day]
    cloud: np.ndarray  # [county, day]
    counties: tuple[str, ...]

    def index(self, county: str) -> int:
        return self.counties.index(county)


def build_weather(counties: list[str], first_day: pd.Timestamp, n_days: int, seed: int) -> Weather:
    """AR(1) daily anomalies; the monsoon months (Apr-Jun) are cloudier."""
    rng = np.random.default_rng([seed, 7])
    doy = (first_day + pd.to_timedelta(np.arange(n_days), "D")).day_of_year.to_numpy()
    shared_t = _ar1(rng, n_days, 0.75, 2.2)
    shared_c = _ar1(rng, n_days, 0.6, 1.0)
    t_anom, cloud = [], []
    for _ in counties:
        t_anom.append(shared_t + _ar1(rng, n_days, 0.5, 0.6))
        monsoon = 0.35 * np.exp(-0.5 * ((doy - 150) / 35.0) ** 2)
        logit = shared_c + _ar1(rng, n_days, 0.4, 0.5) + monsoon * 3 - 0.2
        cloud.append(1.0 / (1.0 + np.exp(-logit)))
    return Weather(first_day, np.array(t_anom), np.array(cloud), tuple(counties))


def _ar1(rng: np.random.Generator, n: int, phi: float, sd: float) -> np.ndarray:
    eps = rng.normal(0.0, sd * np.sqrt(1 - phi**2), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sd)
    for i in range(1, n):
        out[i] = phi * out[i - 1] + eps[i]
    return out


@dataclass(frozen=True)
class Clock:
    """Interval start times (UTC) of one month and their local calendar features."""

    ts: pd.DatetimeIndex
    hours: float  # interval length, h

    @property
    def local(self) -> pd.DatetimeIndex:
        return self.ts + pd.Timedelta(hours=LOCAL_OFFSET_H)

    def features(self, weather: Weather) -> dict[str, np.ndarray]:
        mid = self.local + pd.Timedelta(hours=self.hours / 2)
        day = ((mid.normalize() - weather.first_day) // pd.Timedelta(days=1)).to_numpy()
        return dict(
            hour=(mid.hour + mid.minute / 60.0).to_numpy(dtype=float),
            doy=mid.day_of_year.to_numpy(dtype=float),
            dow=mid.day_of_week.to_numpy(),
            day=np.clip(day, 0, weather.t_anomaly.shape[1] - 1),
        )


def month_clock(month_start: pd.Timestamp, interval_s: int) -> Clock:
    end = month_start + pd.offsets.MonthBegin(1)
    ts = pd.date_range(month_start, end, freq=pd.Timedelta(seconds=interval_s), inclusive="left")
    return Clock(ts, interval_s / 3600.0)


def air_temperature(f: dict, weather: Weather, county: int) -> np.ndarray:
    """Air temperature, degC: seasonal + synoptic + diurnal (damped by clouds)."""
    cloud = weather.cloud[county, f["day"]]
    seasonal = 17.5 + 11.8 * np.cos(2 * np.pi * (f["doy"] - 200) / 365.25)
    diurnal = 4.5 * (1 - 0.6 * cloud) * np.cos(2 * np.pi * (f["hour"] - 14.5) / 24)
    return seasonal + weather.t_anomaly[county, f["day"]] + diurnal


def global_radiation(f: dict, weather: Weather, county: int, lat: float, lon: float) -> np.ndarray:
    """Global radiation Rg, W m-2, from solar elevation (Cooper declination) and cloudiness."""
    decl = np.radians(23.45) * np.sin(2 * np.pi * (284 + f["doy"]) / 365)
    solar_hour = f["hour"] - (120.0 - lon) / 15.0
    omega = np.radians(15.0 * (solar_hour - 12.0))
    phi = np.radians(lat)
    sin_elev = np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(omega)
    clear = 1080.0 * np.clip(sin_elev, 0, None) ** 1.15
    return clear * (1.0 - 0.72 * weather.cloud[county, f["day"]])


def _saturation_vp_hpa(t: np.ndarray) -> np.ndarray:
    """Magnus formula (Tetens), hPa."""
    return 6.1078 * np.exp(17.27 * t / (t + 237.3))


def tower_month(
    clock: Clock, weather: Weather, county: int, lat: float, lon: float, rng: np.random.Generator
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One month of half-hourly tower data: metric -> (values with NaN gaps, qc flags)."""
    f = clock.features(weather)
    n = len(clock.ts)
    tair = air_temperature(f, weather, county) + rng.normal(0, 0.15, n)
    rg = np.clip(global_radiation(f, weather, county, lat, lon) * rng.lognormal(0, 0.08, n), 0, None)
    cloud = weather.cloud[county, f["day"]]
    rh = np.clip(62 + 25 * cloud - 14 * np.cos(2 * np.pi * (f["hour"] - 14.5) / 24) + rng.normal(0, 3, n), 20, 100)
    vpd = _saturation_vp_hpa(tair) * (1 - rh / 100.0)
    night = rg < 10
    ustar = rng.lognormal(np.log(np.where(night, 0.22, 0.42)), 0.45)

    par = 2.1 * rg  # umol photons m-2 s-1 per W m-2 of global radiation
    capacity = 0.7 + 0.3 * np.cos(2 * np.pi * (f["doy"] - 200) / 365.25)  # evergreen subtropical
    pmax = 24.0 * capacity
    alpha = 0.045
    gpp = alpha * par * pmax / (alpha * par + pmax + 1e-9)
    gpp *= np.where(vpd > 10, np.exp(-0.04 * (vpd - 10)), 1.0) * np.clip((tair + 2) / 8, 0, 1)
    reco = 2.4 * np.exp(165.0 * (1 / (15 + 46.02) - 1 / (tair + 46.02)))  # Lloyd & Taylor 1994, E0 = 165 K
    nee = reco - gpp
    nee = nee + rng.laplace(0, 0.5 + 0.12 * np.abs(nee))
    nee = np.where(night & (ustar < 0.2), nee * np.sqrt(ustar / 0.2), nee)  # low-turbulence underestimation

    qc = np.where(rng.random(n) < np.where(night, 0.3, 0.12), 1, 0).astype(np.uint8)
    qc[rng.random(n) < np.where(night, 0.12, 0.04)] = 2
    nee_missing = rng.random(n) < np.where(night, 0.28, 0.12)
    nee = np.where(nee_missing, np.nan, nee)
    sentinel = rng.random(n) < 0.0008
    nee = np.where(sentinel, -9999.0, nee)  # logger's missing-value code leaks through

    out = {"NEE": nee, "Rg": rg, "Tair": tair, "VPD": vpd, "Ustar": ustar}
    if rng.random() < 0.3:  # power failure: the whole tower is silent for 2-9 days
        start = rng.integers(0, n)
        stop = start + int(rng.integers(96, 432))
        for values in out.values():
            values[start:stop] = np.nan
    if rng.random() < 0.08:  # a stuck thermometer repeats its last reading for 1-3 days
        start = rng.integers(0, max(1, n - 150))
        tair[start : start + int(rng.integers(48, 144))] = round(float(tair[start]), 2)
    flags = {m: (qc if m == "NEE" else np.zeros(n, np.uint8)) for m in out}
    return {m: (v, flags[m]) for m, v in out.items()}


def meter_profile(
    industry: str, metric: str, clock: Clock, weather: Weather, county: int, size: float, rng: np.random.Generator
) -> np.ndarray:
    """True amount per interval in the metric's canonical unit (before any meter fault)."""
    f = clock.features(weather)
    h, doy, dow, dt = f["hour"], f["doy"], f["dow"], clock.hours
    tair = air_temperature(f, weather, county)
    cooling = np.clip(tair - 24, 0, None) / 8
    heating = np.clip(12 - tair, 0, None) / 10
    weekday = dow < 5
    noise = rng.lognormal(0, 0.04, len(h))
    spring_festival = (doy >= 20) & (doy <= 48)

    if industry == "power":
        peak = np.exp(-0.5 * ((h - 10.5) / 2) ** 2) + np.exp(-0.5 * ((h - 20) / 2) ** 2)
        load = (0.58 + 0.12 * peak + 0.1 * (cooling + heating)) * noise
        load = np.where((doy >= 95) & (doy < 109), 0.0, np.clip(load, 0, 1))  # spring overhaul
        mw = 600.0 * size
        values = {
            "electricity_export": mw * 1000 * load * dt * 0.94,
            "coal": mw * load * dt * 0.42,  # t raw coal per MWh gross (about 300 gce/kWh)
            "electricity_import": np.where(load == 0, mw * 1000 * 0.008 * dt, 0.0),
        }
    elif industry == "cement":
        on = ~spring_festival & ~((doy >= 190) & (doy < 200))  # staggered shutdown + kiln maintenance
        clinker = 200.0 * size * on * noise * dt
        offpeak = (h >= 23) | (h < 7)
        values = {
            "clinker": clinker,
            "coal": clinker * 0.135,
            "electricity_import": 13500.0 * size * (0.3 + 0.7 * on) * (1 + 0.2 * offpeak) * noise * dt,
        }
    elif industry == "paper":
        on = ~((doy >= 28) & (doy < 35))
        paper = 12.0 * size * on * noise * dt
        values = {
            "paper": paper,
            "electricity_import": paper * 620 + 250.0 * size * dt,
            "heat_supply": paper * 7.5,
            "natural_gas": paper * 28.0,
        }
    elif industry == "logistics":
        dispense = np.exp(-0.5 * ((h - 7.5) / 1.2) ** 2) + 0.7 * np.exp(-0.5 * ((h - 18) / 1.0) ** 2)
        dispense /= dispense.mean()
        daily = 7000.0 * size * np.where(dow == 6, 0.6, 1.0)
        daytime = (h >= 7) & (h < 21)
        values = {
            "diesel": daily / 24 * dispense * noise * dt,
            "electricity_import": 900.0 * size * (0.3 + 0.7 * daytime) * (1 + 0.4 * cooling) * noise * dt,
        }
    elif industry == "park":
        office = ((h >= 8) & (h < 19) & weekday).astype(float)
        values = {
            "electricity_import": 12000.0 * size * (0.35 + 0.65 * office) * (1 + 0.5 * cooling + 0.2 * heating) * noise * dt,
            "natural_gas": 150.0 * size * (0.3 + 1.5 * heating) * (0.2 + 0.8 * ((h >= 6) & (h < 20))) * noise * dt,
        }
    else:
        raise ValueError(f"no load profile for industry {industry!r}")
    return np.asarray(values[metric], dtype=float)


def meter_faults(values: np.ndarray, metric: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Apply communication outages, stuck gateways, roll-over spikes and reversed CTs.

    Returns (reported values with NaN where nothing was received, qc flags).  After an
    outage the meter sends one catch-up reading holding the missed amounts (qc = 1), so
    the month's total stays right even though intervals are missing, unless that
    reading would exceed the metric's plausible range.
    """
    reported = values.copy()
    qc = np.zeros(len(values), np.uint8)
    n = len(values)
    if rng.random() < 0.15:
        start = int(rng.integers(0, n - 2))
        stop = min(n - 1, start + int(rng.integers(6, 72)))
        catch_up = values[start : stop + 1].sum()
        reported[start:stop] = np.nan
        if catch_up <= METRICS[metric].max_valid:  # otherwise the missed amounts are simply lost
            reported[stop] = catch_up
            qc[stop] = 1
    drop = (rng.random(n) < 0.004) & ~np.isnan(reported) & (qc == 0)
    reported[drop] = np.nan
    if rng.random() < 0.05:
        start = int(rng.integers(0, n - 1))
        reported[start : start + int(rng.integers(6, 48))] = reported[start]
    if rng.random() < 0.04:
        reported[int(rng.integers(0, n))] = METRICS[metric].max_valid * 10  # counter roll-over
    if rng.random() < 0.02:
        i = int(rng.integers(0, n))
        reported[i] = -abs(values[i]) - 1.0  # reversed current transformer
    return reported, qc
