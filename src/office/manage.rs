//! The pages for adding and retiring villages (`/desa-desa`): the list the
//! office keeps, the add form (admins only), and the settings a technician
//! puts on the new village's router, shown once (docs/office.md, on adding
//! and retiring a village). Pure, like [`super::console`]: every value is
//! escaped here.

use jiff::tz::TimeZone;

use super::console::{local_time, notice, Console, Frame};
use super::registry::{Registered, MAX_NAME};
use crate::web::http::escape_html;

/// What the technician needs for one new village.
pub struct Setup<'a> {
    pub village: &'a Registered,
    pub regency: &'a str,
    /// The account's password, shown this once.
    pub password: &'a str,
    /// Where the agent pushes (`[prometheus] push_url`).
    pub push_url: &'a str,
    /// The village's policy URL (`<policy_base_url>/<slug>.json`).
    pub policy_url: String,
    /// The receiver's CA (PEM) when one is configured; `Err` why it could not be read.
    pub ca_pem: Option<Result<String, String>>,
}

impl Console {
    /// `/desa-desa`: the add form for admins, every village the office keeps.
    pub fn manage_page(
        &self,
        frame: &Frame,
        villages: Result<&[Registered], &str>,
        error: Option<&str>,
        typed: &str,
        tz: &TimeZone,
    ) -> String {
        let lang = frame.lang;
        let t = |k| escape_html(self.text(lang, k));
        let admin = frame.principal.filter(|p| p.may_change());
        let mut body = String::new();
        if let Some(p) = admin {
            body.push_str(&format!(
                r#"<section class="card"><h2>{}</h2>{}<form method="post" action="/desa-desa" class="stack"><input type="hidden" name="csrf" value="{}"><label for="name">{}</label><input id="name" name="name" type="text" value="{}" maxlength="{MAX_NAME}" required autocomplete="off"><p class="hint">{}</p><button class="btn" type="submit">{}</button></form></section>"#,
                t("add_village"),
                error.map_or_else(String::new, notice),
                escape_html(&p.csrf),
                t("village_name"),
                escape_html(typed),
                t("name_rule"),
                t("add_button"),
            ));
        }
        let mut notice_html = String::new();
        let rows: String = match villages {
            Err(e) => {
                notice_html = notice(e);
                String::new()
            }
            Ok([]) => format!("<li class=\"card\">{}</li>", t("no_registered")),
            Ok(list) => list
                .iter()
                .map(|v| {
                    let state = match &v.retired {
                        Some((at, by)) => self.templates.text_with(
                            lang,
                            "retired_by",
                            &[("when", &local_time(*at, tz)), ("who", by)],
                        ),
                        None => self.text(lang, "active").to_owned(),
                    };
                    let added = self.templates.text_with(
                        lang,
                        "added_by",
                        &[("when", &local_time(v.added_at, tz)), ("who", &v.added_by)],
                    );
                    let retire = match (admin, &v.retired) {
                        (Some(p), None) => format!(
                            r#"<form method="post" action="/desa-desa/pensiun"><input type="hidden" name="csrf" value="{}"><input type="hidden" name="slug" value="{}"><label class="confirm"><input type="checkbox" name="confirm" value="ya" required> {}</label><button class="btn quiet" type="submit">{}</button></form>"#,
                            escape_html(&p.csrf),
                            escape_html(&v.slug),
                            t("retire_confirm"),
                            t("retire_button")
                        ),
                        _ => String::new(),
                    };
                    format!(
                        r#"<li class="card registered{}"><h2><a href="/desa/{}">{}</a></h2><dl><dt>{}</dt><dd><code>{}</code></dd><dt>{}</dt><dd>{}</dd><dt>{}</dt><dd>{}</dd></dl>{retire}</li>"#,
                        if v.retired.is_some() { " retired" } else { "" },
                        super::prom::encode(&v.name),
                        escape_html(&v.name),
                        t("account"),
                        escape_html(&v.slug),
                        t("added"),
                        escape_html(&added),
                        t("status"),
                        escape_html(&state),
                    )
                })
                .collect(),
        };
        body.push_str(&format!(
            "<h2>{}</h2><ul class=\"villages\">{rows}</ul><p><a href=\"/\">{}</a></p>",
            t("registered_title"),
            t("back")
        ));
        self.page(frame, self.text(lang, "manage_title"), &notice_html, &body)
    }

    /// The router's settings for a village just added; the password is in it once.
    pub fn setup_page(&self, frame: &Frame, s: &Setup) -> String {
        let lang = frame.lang;
        let t = |k| escape_html(self.text(lang, k));
        let v = s.village;
        let fleet = format!(
            "[fleet]\n# {}\n# policy_url = \"{}\"\n# policy_public_key = \"...\"\n",
            self.text(lang, "key_later"),
            s.policy_url,
        );
        let env = format!(
            "DW_VILLAGE=\"{}\"\nDW_REGENCY=\"{}\"\nDW_FLEET_URL={}\nDW_FLEET_USER={}\n",
            v.name,
            s.regency.replace(['"', '\\', '\n'], ""),
            s.push_url,
            v.slug
        );
        let ca = match &s.ca_pem {
            Some(Ok(pem)) => format!("<pre>{}</pre>", escape_html(pem)),
            Some(Err(e)) => notice(e),
            None => format!("<p>{}</p>", t("no_ca")),
        };
        let block = |title: &str, file: &str, text: &str| {
            let file = if file.is_empty() {
                String::new()
            } else {
                format!("<p><code>{}</code></p>", escape_html(file))
            };
            format!(
                "<section class=\"card\"><h2>{}</h2>{file}<pre>{}</pre></section>",
                escape_html(title),
                escape_html(text)
            )
        };
        let mut body = format!(
            "<p class=\"notice ok\" role=\"status\">{}</p>",
            escape_html(&self.templates.text_with(
                lang,
                "added_notice",
                &[("name", &v.name), ("slug", &v.slug)]
            ))
        );
        body.push_str(&block(
            self.text(lang, "setup_fleet"),
            "/etc/desawifi/desawifi.toml",
            &fleet,
        ));
        body.push_str(&block(
            self.text(lang, "setup_env"),
            "/etc/desawifi/fleet-agent.env",
            &env,
        ));
        body.push_str(&block(
            self.text(lang, "setup_password"),
            "/etc/desawifi/fleet-agent.password (chmod 600)",
            s.password,
        ));
        body.push_str(&format!(
            "<section class=\"card\"><h2>{}</h2><p><code>/etc/desawifi/fleet-ca.pem</code></p>{ca}</section>",
            t("setup_ca")
        ));
        body.push_str(&block(
            self.text(lang, "setup_start"),
            "",
            "chmod 600 /etc/desawifi/fleet-agent.password\nsystemctl enable --now desawifi-fleet-agent\nsystemctl reload desawifi\n",
        ));
        body.push_str(&format!(
            "<p><a href=\"/desa-desa\">{}</a></p>",
            t("manage_title")
        ));
        let title = self
            .templates
            .text_with(lang, "setup_title", &[("name", &v.name)]);
        self.page(frame, &title, "", &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{Principal, Via};
    use crate::domain::Role;
    use crate::lang::Language;

    #[test]
    fn viewers_see_no_forms_and_everything_is_escaped() {
        let console = Console::load(None).unwrap();
        let tz = TimeZone::get("Asia/Makassar").unwrap();
        let mut p = Principal {
            username: "vi".into(),
            role: Role::Viewer,
            csrf: "c0ffee".into(),
            via: Via::Cookie,
        };
        let list = [Registered {
            name: "Long Kali Baru".into(),
            slug: "long-kali-baru".into(),
            added_at: 1_700_000_000,
            added_by: "<ani>".into(),
            retired: None,
        }];
        fn frame(p: &Principal) -> Frame<'_> {
            Frame {
                lang: Language::Id,
                regency: "Paser",
                principal: Some(p),
                path: "/desa-desa",
            }
        }
        let html = console.manage_page(&frame(&p), Ok(&list), None, "", &tz);
        assert!(!html.contains("action=\"/desa-desa\"") && !html.contains("pensiun"));
        assert!(
            html.contains("&lt;ani&gt;") && html.contains("href=\"/desa/Long%20Kali%20Baru\""),
            "{html}"
        );
        p.role = Role::Admin;
        let html = console.manage_page(&frame(&p), Ok(&list), Some("<bad>"), "<x>", &tz);
        assert!(html.contains("action=\"/desa-desa\"") && html.contains("/desa-desa/pensiun"));
        assert!(html.contains("name=\"confirm\" value=\"ya\" required"));
        assert!(html.contains("&lt;bad&gt;") && html.contains("value=\"&lt;x&gt;\""));
        let setup = Setup {
            village: &list[0],
            regency: "Paser",
            password: "s3cret",
            push_url: "https://fleet.example.net:9090/api/v1/write",
            policy_url: "https://fleet.example.net:8443/kebijakan/long-kali-baru.json".into(),
            ca_pem: Some(Ok("-----BEGIN CERTIFICATE-----".into())),
        };
        let html = console.setup_page(&frame(&p), &setup);
        for want in [
            "DW_VILLAGE=&quot;Long Kali Baru&quot;",
            "DW_FLEET_USER=long-kali-baru",
            "DW_FLEET_URL=https://fleet.example.net:9090/api/v1/write",
            "policy_url = &quot;https://fleet.example.net:8443/kebijakan/long-kali-baru.json&quot;",
            "s3cret",
            "-----BEGIN CERTIFICATE-----",
        ] {
            assert!(html.contains(want), "{want}: {html}");
        }
    }
}
