//! Addresses keyed by GB/T 2260 administrative division codes: province, city and district are
//! six-digit codes (110000, 110100, 110101), the street (township) a nine-digit code. `Regions`
//! is the registry of valid codes, built once from the division data package; an `Address`
//! exists only when its codes form a chain in that registry.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegionCode(pub String);

impl RegionCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RegionCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    Province,
    City,
    District,
    Street,
}

#[derive(Debug, Clone, Serialize)]
pub struct Region {
    pub code: RegionCode,
    pub name: String,
    pub level: RegionLevel,
    pub parent: Option<RegionCode>,
}

/// A point in GCJ-02, the datum Chinese maps use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub lng: f64,
    pub lat: f64,
}

impl GeoPoint {
    /// Only points inside China's bounding box are plausible GCJ-02 coordinates.
    pub fn new(lng: f64, lat: f64) -> Option<Self> {
        ((73.0..=136.0).contains(&lng) && (3.0..=54.0).contains(&lat)).then_some(Self { lng, lat })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Address {
    pub province: RegionCode,
    pub city: RegionCode,
    pub district: Option<RegionCode>,
    pub street: Option<RegionCode>,
    pub detail: String,
    pub geo: Option<GeoPoint>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("unknown region code {0}")]
    UnknownCode(String),
    #[error("{child} does not lie in {parent}")]
    NotInParent { child: String, parent: String },
    #[error("{0} is not a region of the expected level")]
    WrongLevel(String),
    #[error("the street detail is required and at most 200 characters")]
    Detail,
    #[error("coordinates outside China")]
    Geo,
}

#[derive(Debug, Default)]
pub struct Regions {
    by_code: HashMap<String, Region>,
}

#[derive(Deserialize)]
struct DivisionRow {
    code: String,
    name: String,
}

impl Regions {
    /// Builds the registry from the four JSON arrays of the china-division package
    /// (provinces, cities, areas, streets), whose codes are 2, 4, 6 and 9 digits long.
    pub fn from_china_division(
        provinces: &str,
        cities: &str,
        areas: &str,
        streets: &str,
    ) -> Result<Self, serde_json::Error> {
        let mut regions = Self::default();
        for (json, level) in [
            (provinces, RegionLevel::Province),
            (cities, RegionLevel::City),
            (areas, RegionLevel::District),
            (streets, RegionLevel::Street),
        ] {
            let rows: Vec<DivisionRow> = serde_json::from_str(json)?;
            for row in rows {
                let (code, parent) = match level {
                    RegionLevel::Province => (format!("{}0000", row.code), None),
                    RegionLevel::City => (
                        format!("{}00", row.code),
                        Some(format!("{}0000", &row.code[..2])),
                    ),
                    RegionLevel::District => {
                        (row.code.clone(), Some(format!("{}00", &row.code[..4])))
                    }
                    RegionLevel::Street => (row.code.clone(), Some(row.code[..6].to_string())),
                };
                regions.insert(Region {
                    code: RegionCode(code),
                    name: row.name,
                    level,
                    parent: parent.map(RegionCode),
                });
            }
        }
        Ok(regions)
    }

    pub fn insert(&mut self, region: Region) {
        self.by_code.insert(region.code.0.clone(), region);
    }

    pub fn get(&self, code: &str) -> Option<&Region> {
        self.by_code.get(code)
    }

    pub fn name(&self, code: &RegionCode) -> &str {
        self.get(&code.0).map_or("", |r| r.name.as_str())
    }

    pub fn len(&self) -> usize {
        self.by_code.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// Children of a region (or the provinces when `parent` is None), sorted by code.
    pub fn children(&self, parent: Option<&str>) -> Vec<&Region> {
        let mut v: Vec<&Region> = self
            .by_code
            .values()
            .filter(|r| match parent {
                None => r.level == RegionLevel::Province,
                Some(p) => r.parent.as_ref().is_some_and(|c| c.0 == p),
            })
            .collect();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }

    fn expect(
        &self,
        code: &str,
        level: RegionLevel,
        parent: Option<&str>,
    ) -> Result<RegionCode, AddressError> {
        let r = self
            .get(code)
            .ok_or_else(|| AddressError::UnknownCode(code.chars().take(12).collect()))?;
        if r.level != level {
            return Err(AddressError::WrongLevel(code.to_string()));
        }
        if let Some(p) = parent
            && r.parent.as_ref().is_none_or(|rp| rp.0 != p)
        {
            return Err(AddressError::NotInParent {
                child: code.to_string(),
                parent: p.to_string(),
            });
        }
        Ok(r.code.clone())
    }

    /// Parses an address from codes and detail, checking each code lies in the one before it.
    pub fn address(
        &self,
        province: &str,
        city: &str,
        district: Option<&str>,
        street: Option<&str>,
        detail: &str,
        geo: Option<(f64, f64)>,
    ) -> Result<Address, AddressError> {
        let province = self.expect(province, RegionLevel::Province, None)?;
        let city = self.expect(city, RegionLevel::City, Some(&province.0))?;
        let district = district
            .filter(|s| !s.is_empty())
            .map(|d| self.expect(d, RegionLevel::District, Some(&city.0)))
            .transpose()?;
        let street = match (street.filter(|s| !s.is_empty()), &district) {
            (None, _) => None,
            (Some(s), Some(d)) => Some(self.expect(s, RegionLevel::Street, Some(&d.0))?),
            (Some(s), None) => {
                return Err(AddressError::NotInParent {
                    child: s.to_string(),
                    parent: city.0.clone(),
                });
            }
        };
        let detail = crate::text::required(detail, 200).map_err(|_| AddressError::Detail)?;
        let geo = geo
            .map(|(lng, lat)| GeoPoint::new(lng, lat).ok_or(AddressError::Geo))
            .transpose()?;
        Ok(Address {
            province,
            city,
            district,
            street,
            detail,
            geo,
        })
    }

    /// "浙江省杭州市西湖区 文三路 90 号" — the address as people write it.
    pub fn format(&self, a: &Address) -> String {
        let mut s = String::new();
        for code in [
            Some(&a.province),
            Some(&a.city),
            a.district.as_ref(),
            a.street.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            let name = self.name(code);
            // Municipalities repeat themselves as 北京市 › 市辖区; the second adds nothing.
            if name != "市辖区" && !s.ends_with(name) {
                s.push_str(name);
            }
        }
        s.push(' ');
        s.push_str(&a.detail);
        s
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> Regions {
        Regions::from_china_division(
            r#"[{"code":"33","name":"浙江省"},{"code":"11","name":"北京市"}]"#,
            r#"[{"code":"3301","name":"杭州市","provinceCode":"33"},{"code":"1101","name":"市辖区","provinceCode":"11"}]"#,
            r#"[{"code":"330106","name":"西湖区","cityCode":"3301","provinceCode":"33"},{"code":"110101","name":"东城区","cityCode":"1101","provinceCode":"11"}]"#,
            r#"[{"code":"330106004","name":"北山街道","areaCode":"330106"}]"#,
        )
        .unwrap()
    }

    #[test]
    fn a_valid_chain_parses_and_formats() {
        let r = sample();
        let a = r
            .address(
                "330000",
                "330100",
                Some("330106"),
                Some("330106004"),
                "曙光路 1 号",
                Some((120.13, 30.27)),
            )
            .unwrap();
        assert_eq!(r.format(&a), "浙江省杭州市西湖区北山街道 曙光路 1 号");
        let b = r
            .address(
                "110000",
                "110100",
                Some("110101"),
                None,
                "王府井大街 1 号",
                None,
            )
            .unwrap();
        assert_eq!(r.format(&b), "北京市东城区 王府井大街 1 号");
    }

    #[test]
    fn broken_chains_are_refused() {
        let r = sample();
        assert_eq!(
            r.address("999999", "330100", None, None, "x", None),
            Err(AddressError::UnknownCode("999999".into()))
        );
        assert!(matches!(
            r.address("110000", "330100", None, None, "x", None),
            Err(AddressError::NotInParent { .. })
        ));
        assert!(matches!(
            r.address("330000", "330106", None, None, "x", None),
            Err(AddressError::WrongLevel(_))
        ));
        assert_eq!(
            r.address("330000", "330100", None, None, " ", None),
            Err(AddressError::Detail)
        );
        assert_eq!(
            r.address("330000", "330100", None, None, "x", Some((0.0, 0.0))),
            Err(AddressError::Geo)
        );
        assert!(
            r.address("330000", "330100", None, Some("330106004"), "x", None)
                .is_err()
        );
    }
}
