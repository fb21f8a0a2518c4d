//! Calendar dates, as public services count them: `YYYY-MM-DD` in and out (also through serde),
//! today's date, days later, whole months between (ages).
//!
//! ```
//! use civic_sdk::date::Date;
//!
//! let born = Date::parse("2022-03-14").unwrap();
//! assert_eq!(born.months_until(Date::parse("2025-03-13").unwrap()), Some(35));
//! assert_eq!(born.add_days(20).to_string(), "2022-04-03");
//! assert!(Date::parse("2023-02-29").is_none());
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// A day of the proleptic Gregorian calendar.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// `2022-03-14`; `None` for anything else, including days that do not exist.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.split('-');
        let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return None;
        }
        let date = Self { year: year.parse().ok()?, month: month.parse().ok()?, day: day.parse().ok()? };
        ((1..=12).contains(&date.month) && (1..=days_in_month(date.year, date.month)).contains(&date.day))
            .then_some(date)
    }

    /// Today, in UTC.
    pub fn today() -> Self {
        let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        Self::from_days(i64::try_from(seconds / 86_400).unwrap_or(0))
    }

    /// The date `days` days later.
    pub fn add_days(self, days: u32) -> Self {
        Self::from_days(self.to_days() + i64::from(days))
    }

    /// Days since 1970-01-01 (the days-from-civil algorithm of H. Hinnant).
    fn to_days(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let shifted_month = i64::from((self.month + 9) % 12);
        let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// The date `days` after 1970-01-01 (the civil-from-days algorithm of H. Hinnant).
    fn from_days(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z.rem_euclid(146_097);
        let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
        let month = if shifted_month < 10 { shifted_month + 3 } else { shifted_month - 9 } as u32;
        let year = (year_of_era + era * 400 + i64::from(month <= 2)) as i32;
        Self { year, month, day }
    }

    /// Whole months from `self` to `later`; `None` if `later` is earlier.
    pub fn months_until(self, later: Self) -> Option<u32> {
        let months =
            (later.year - self.year) * 12 + later.month as i32 - self.month as i32 - i32::from(later.day < self.day);
        u32::try_from(months).ok().filter(|_| later >= self)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not a date like 2022-03-14")))
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::Date;

    #[test]
    fn days_and_dates_convert_both_ways() {
        for text in ["1970-01-01", "2000-02-29", "2024-12-31", "2026-11-22", "1969-12-31", "2100-03-01"] {
            let date = Date::parse(text).unwrap();
            assert_eq!(Date::from_days(date.to_days()), date, "{text}");
        }
        assert_eq!(Date::parse("1970-01-01").unwrap().to_days(), 0);
        assert_eq!(Date::parse("2024-02-28").unwrap().add_days(2).to_string(), "2024-03-01");
        assert_eq!(Date::parse("2024-03-14").unwrap().months_until(Date::parse("2024-03-13").unwrap()), None);
    }
}
