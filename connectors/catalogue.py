"""What each concrete component type carries: its class-specific attribute names and the class codes it covers."""

from __future__ import annotations

# Class-specific attribute names (snake_case) per concrete schema type, and the class codes each type covers.
# Readings are the latest observation in normalised units; ``reading_at`` is when it was observed.
ATTRIBUTE_FIELDS: dict[str, tuple[str, ...]] = {
    "ManholeCover": ("material", "shape", "diameter_mm"),
    "Hydrant": ("hydrant_type", "outlet_diameter_mm", "pressure_mpa", "reading_at"),
    "WaterPressurePoint": ("pipe_diameter_mm", "pressure_mpa", "flow_m3h", "reading_at"),
    "WaterQualityStation": ("sampling_point", "turbidity_ntu", "ph", "residual_chlorine_mgl", "reading_at"),
    "FloodingPoint": ("warning_depth_cm", "ponding_depth_cm", "water_level_m", "rainfall_mm", "reading_at"),
    "BusStop": ("routes", "has_shelter"),
    "TrafficSignal": ("intersection", "control_mode", "phase_count", "online"),
    "ParkingLot": ("capacity", "available_spaces", "fee_per_hour_yuan", "reading_at"),
    "AirQualityStation": ("aqi", "primary_pollutants", "pm25", "pm10", "so2", "no2", "o3", "co", "reading_at",
                          "hourly"),
    "ConstructionSite": ("permit_number", "contractor", "start_date", "planned_end_date", "pm10", "noise_db",
                         "reading_at"),
    "Building": ("address", "floors", "height_m", "year_built", "structure", "usage"),
}

TYPE_BY_CLASS: dict[str, str] = {
    **dict.fromkeys(("0101", "0102", "0103", "0105", "0106", "0107", "0108", "0110", "0111"), "ManholeCover"),
    "0113": "Hydrant",
    "2141": "WaterPressurePoint",
    "2142": "WaterQualityStation",
    "2143": "FloodingPoint",
    "0203": "BusStop",
    "0210": "TrafficSignal",
    "0201": "ParkingLot",
    "0308": "AirQualityStation",
    "0602": "ConstructionSite",
    "2150": "Building",
}
