//! Turning a mail's words into text and HTML through templates the
//! hospital may replace. The wording comes from [`crate::i18n`]; templates
//! only lay it out, so one set of templates serves every language.
//!
//! Built in are `mail.txt` and `mail.html`. A file in `mail.template_dir`
//! replaces the built-in one of the same name, and `<kind>.txt` /
//! `<kind>.html` (`confirmation`, `reminder`, `cancellation`,
//! `guest-invite`, `test`) replace the layout for one kind of mail.
//! HTML templates escape every value.

use std::path::Path;

use minijinja::{Environment, Value};

const MAIL_TXT: &str = include_str!("templates/mail.txt");
const MAIL_HTML: &str = include_str!("templates/mail.html");

/// The kinds of mail bedside sends; each may have its own template.
pub const KINDS: &[&str] = &[
    "confirmation",
    "reminder",
    "cancellation",
    "guest-invite",
    "test",
];

/// The prepared templates.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

/// A mail ready for the outbox.
#[derive(Debug, Clone)]
pub struct Composed {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Templates {
    /// The built-in templates, replaced file by file from `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Templates, String> {
        let mut env = Environment::new();
        // A value the template names but the mail does not provide is an
        // error, not an empty string (a button without a label, once).
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        env.set_trim_blocks(false);
        env.add_template("mail.txt", MAIL_TXT)
            .map_err(|e| format!("built-in mail.txt: {e}"))?;
        env.add_template("mail.html", MAIL_HTML)
            .map_err(|e| format!("built-in mail.html: {e}"))?;
        if let Some(dir) = dir {
            let names = ["mail"].iter().chain(KINDS.iter());
            for name in names {
                for ext in ["txt", "html"] {
                    let file = dir.join(format!("{name}.{ext}"));
                    if !file.exists() {
                        continue;
                    }
                    let source = std::fs::read_to_string(&file).map_err(|e| {
                        format!("mail.template_dir: cannot read {}: {e}", file.display())
                    })?;
                    env.add_template_owned(format!("{name}.{ext}"), source)
                        .map_err(|e| {
                            format!(
                                "mail.template_dir: {} is not a valid template: {e}",
                                file.display()
                            )
                        })?;
                }
            }
        }
        Ok(Templates { env })
    }

    /// Renders `kind`'s text and HTML with `values` (its own template if
    /// there is one, else the common layout).
    pub fn render(&self, kind: &str, subject: &str, values: Value) -> Result<Composed, String> {
        let pick = |ext: &str| {
            let own = format!("{kind}.{ext}");
            if self.env.get_template(&own).is_ok() {
                own
            } else {
                format!("mail.{ext}")
            }
        };
        let render = |name: String| -> Result<String, String> {
            self.env
                .get_template(&name)
                .and_then(|t| t.render(&values))
                .map_err(|e| format!("mail template {name}: {e}"))
        };
        Ok(Composed {
            subject: subject.to_string(),
            text: render(pick("txt"))?,
            html: render(pick("html"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::context;

    fn values() -> Value {
        context! {
            lang => "en",
            subject => "Hello",
            paragraphs => vec!["Intro <b>bold</b> & more"],
            link => "https://visits.example.org/v/abc",
            link_heading => "How to join",
            link_how => "Open the link.",
            link_label => "Join",
            after => Vec::<String>::new(),
            contact => "",
            privacy => "Privacy: https://visits.example.org/privacy",
            regards => "Kind regards,",
            hospital => "St Example",
        }
    }

    #[test]
    fn text_and_html_carry_the_words_and_html_escapes_them() {
        let t = Templates::load(None).unwrap();
        let m = t.render("confirmation", "Hello", values()).unwrap();
        assert!(m.text.contains("Intro <b>bold</b> & more"));
        assert!(m.text.contains("https://visits.example.org/v/abc"));
        assert!(m.html.contains("Intro &lt;b&gt;bold&lt;"), "{}", m.html);
        assert!(
            m.html.contains("&amp; more") && !m.html.contains("<b>"),
            "{}",
            m.html
        );
        // minijinja escapes '/' as well; browsers and mail readers decode it.
        assert!(
            m.html
                .contains("href=\"https:&#x2f;&#x2f;visits.example.org&#x2f;v&#x2f;abc\""),
            "{}",
            m.html
        );
        assert!(m.text.trim_end().ends_with("St Example"));
    }

    #[test]
    fn a_hospital_template_replaces_the_built_in_one() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("confirmation.txt"), "OWN {{ link }}").unwrap();
        std::fs::write(dir.path().join("mail.html"), "<p>{{ hospital }}</p>").unwrap();
        let t = Templates::load(Some(dir.path())).unwrap();
        let m = t.render("confirmation", "Hello", values()).unwrap();
        assert_eq!(m.text, "OWN https://visits.example.org/v/abc");
        assert_eq!(m.html, "<p>St Example</p>");
        let r = t.render("reminder", "Hello", values()).unwrap();
        assert!(
            r.text.contains("Intro"),
            "other kinds keep the common layout"
        );
        std::fs::write(dir.path().join("reminder.txt"), "{% if %}").unwrap();
        let err = Templates::load(Some(dir.path())).unwrap_err();
        assert!(err.contains("reminder.txt"), "{err}");
    }
}
