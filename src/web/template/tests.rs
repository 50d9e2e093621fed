use super::*;

const STRINGS: &str =
    "[id]\nhello = \"Halo {who}\"\nbye = \"Dadah\"\n[en]\nhello = \"Hello {who}\"\nbye = \"Bye\"\n";

const EMBEDDED: &[(&str, &str)] = &[
    ("strings.toml", STRINGS),
    ("style.css", "  b{color:red}\n"),
    (
        "t/head.html",
        "<!-- the shared head -->\n<html lang=\"{{lang}}\"><style>{{css}}</style><title>{{$title}}{{t:bye}}{{/title}}</title>\n",
    ),
    ("t/foot.html", "<footer>{{t:bye}}</footer>\n"),
    ("t/one.html", "<!-- doc -->\n{{> head}}\n<p>{{name}} {{t:hello}}</p>\n{{> foot}}\n"),
    (
        "t/two.html",
        "{{<head}}\n  {{$title}}{{name}} & co{{/title}}\n{{/head}}\n{{body_html}}\n",
    ),
];

const UI: UiFiles = UiFiles {
    name: "test-ui",
    embedded: EMBEDDED,
    strings: "strings.toml",
    inserts: &[("css", "style.css")],
};

const PAGES: [PageSpec; 2] = [
    PageSpec {
        file: "t/one.html",
        vars: "name",
    },
    PageSpec {
        file: "t/two.html",
        vars: "name body_html",
    },
];

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("desawifi-tpl-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("t")).unwrap();
    dir
}

fn load(dir: Option<&Path>) -> Result<Templates, TemplateError> {
    Templates::load(&UI, dir, &PAGES)
}

#[test]
fn partials_are_spliced_and_blocks_replaced() {
    let t = load(None).unwrap();
    assert_eq!(
        t.render(0, Language::En, &[("name", "<Ani>")]),
        "<html lang=\"en\"><style>b{color:red}</style><title>Bye</title>\n\
         <p>&lt;Ani&gt; Hello {who}</p>\n<footer>Bye</footer>\n"
    );
    assert_eq!(
        t.render(
            1,
            Language::Id,
            &[("name", "Ani"), ("body_html", "<i>x</i>")]
        ),
        "<html lang=\"id\"><style>b{color:red}</style><title>Ani & co</title>\n<i>x</i>\n"
    );
    assert_eq!(
        t.text_with(Language::Id, "hello", &[("who", "Budi")]),
        "Halo Budi"
    );
    assert!(t.overridden().is_empty());
}

#[test]
fn an_override_of_the_shared_head_changes_every_page() {
    let dir = temp_dir("head");
    let head = dir.join("t/head.html");
    std::fs::write(&head, "<head data-village>{{$title}}{{/title}}</head>").unwrap();
    let t = load(Some(&dir)).unwrap();
    assert_eq!(t.overridden(), std::slice::from_ref(&head));
    let one = t.render(0, Language::Id, &[("name", "A")]);
    let two = t.render(1, Language::Id, &[("name", "A")]);
    assert!(
        one.starts_with("<head data-village></head>\n<p>A Halo"),
        "{one}"
    );
    assert!(two.starts_with("<head data-village>A & co</head>"), "{two}");

    // A placeholder the pages do not provide: the error names the head file.
    std::fs::write(&head, "<title>{{site}}</title>").unwrap();
    let err = load(Some(&dir)).unwrap_err();
    assert!(
        matches!(&err, TemplateError::UnknownPlaceholder { path, name, .. } if *path == head && name == "site"),
        "{err}"
    );
    // A placeholder only one page has: the other page's check fails.
    std::fs::write(&head, "<title>{{body_html}}</title>").unwrap();
    let err = load(Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("body_html") && err.contains(&head.display().to_string()),
        "{err}"
    );
    std::fs::write(&head, "<title>{{$title}}</title>").unwrap();
    let err = load(Some(&dir)).unwrap_err();
    assert!(
        matches!(&err, TemplateError::Syntax { path, offset: 7, .. } if *path == head),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_block_override_is_checked_in_the_file_that_wrote_it() {
    let dir = temp_dir("block");
    let two = dir.join("t/two.html");
    std::fs::write(&two, "{{<head}}{{$title}}{{nmae}}{{/title}}{{/head}}").unwrap();
    let err = load(Some(&dir)).unwrap_err();
    assert!(
        matches!(&err, TemplateError::UnknownPlaceholder { path, .. } if *path == two),
        "{err}"
    );
    std::fs::write(&two, "{{<head}}<p>stray</p>{{/head}}").unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::Syntax { .. })
    ));
    std::fs::write(&two, "{{<head}}{{$title}}x{{/head}}").unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::Syntax { .. })
    ));
    std::fs::write(&two, "{{/head}}").unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::Syntax { .. })
    ));
    std::fs::write(&two, "{{> }}").unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::Syntax { .. })
    ));
    std::fs::write(&two, "{{> nowhere}}").unwrap();
    let err = load(Some(&dir)).unwrap_err().to_string();
    assert!(
        err.contains("t/nowhere.html") && err.contains("two.html"),
        "{err}"
    );
    std::fs::write(&two, "<p>{{name</p>").unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::Unclosed { offset: 3, .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn partials_that_include_each_other_fail_at_load() {
    let dir = temp_dir("cycle");
    std::fs::write(dir.join("t/head.html"), "{{> foot}}").unwrap();
    std::fs::write(dir.join("t/foot.html"), "{{> head}}").unwrap();
    let err = load(Some(&dir)).unwrap_err();
    assert!(matches!(err, TemplateError::Partial { .. }), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn strings_are_checked_in_both_languages() {
    let dir = temp_dir("strings");
    let path = dir.join("strings.toml");
    std::fs::write(&path, STRINGS.replace("bye = \"Bye\"\n", "")).unwrap();
    let err = load(Some(&dir)).unwrap_err();
    assert!(
        matches!(&err, TemplateError::MissingString { key, lang: Language::En, .. } if key == "bye"),
        "{err}"
    );
    std::fs::write(&path, STRINGS.replace("Hello {who}", "Hello")).unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::FillInMismatch { .. })
    ));
    std::fs::write(&path, "[id\n").unwrap();
    assert!(matches!(
        load(Some(&dir)),
        Err(TemplateError::BadToml { .. })
    ));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(
        load(Some(Path::new("/nonexistent/test-ui"))),
        Err(TemplateError::NoDir { .. })
    ));
    assert_eq!(fill_ins("{b} and {a} but not {no way}"), ["a", "b"]);
}
