//! Server-side enrichment: `browser`, `os` and `device` from the User-Agent
//! of browser batches (woothee; see `docs/adr/003-user-agent-parsing.md`).
//! The client's IP address is used for rate limiting only and never stored.

/// The dimensions derived from a browser's User-Agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAgentDims {
    /// `Chrome`, `Firefox`, `Safari`, `Edge`, …
    pub browser: String,
    /// `Windows 10`, `Mac OSX`, `Linux`, `Android`, `iPhone`, …
    pub os: String,
    /// `desktop`, `mobile`, `feature_phone`, `bot` or `other`.
    pub device: &'static str,
}

/// Parses a User-Agent. `None` when it is not a browser's (an SDK, curl, a
/// script), so server-side batches are not given browser dimensions.
pub(crate) fn from_user_agent(ua: &str) -> Option<UserAgentDims> {
    let r = woothee::parser::Parser::new().parse(ua)?;
    let device = match r.category {
        "pc" => "desktop",
        "smartphone" => "mobile",
        "mobilephone" => "feature_phone",
        "crawler" => "bot",
        "appliance" => "other",
        _ => return None,
    };
    if r.name == "UNKNOWN" {
        return None;
    }
    Some(UserAgentDims {
        browser: r.name.to_owned(),
        os: r.os.to_owned(),
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn browsers() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
        let d = from_user_agent(chrome).unwrap();
        assert_eq!(
            (d.browser.as_str(), d.os.as_str(), d.device),
            ("Chrome", "Linux", "desktop")
        );
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        let d = from_user_agent(iphone).unwrap();
        assert_eq!((d.browser.as_str(), d.device), ("Safari", "mobile"));
        let firefox =
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let d = from_user_agent(firefox).unwrap();
        assert_eq!(
            (d.browser.as_str(), d.os.as_str()),
            ("Firefox", "Windows 10")
        );
        let bot = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        assert_eq!(from_user_agent(bot).unwrap().device, "bot");
    }

    #[test]
    fn not_browsers() {
        for ua in [
            "",
            "-",
            "curl/8.5.0",
            "usagelens-sdk-native/0.1",
            "python-requests/2.31",
        ] {
            assert_eq!(from_user_agent(ua), None, "{ua}");
        }
    }
}
