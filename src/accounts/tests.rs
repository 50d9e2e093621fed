use std::net::Ipv4Addr;

use super::*;
use crate::clock::ManualClock;

const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 50));
const OTHER_PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 51));

fn accounts(name: &str) -> (Accounts, Arc<ManualClock>, AdminStore, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("desawifi-accounts-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = AdminStore::open(&dir).unwrap();
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    (
        Accounts::new(store.clone(), Duration::from_secs(3600), clock.clone()),
        clock,
        store,
        dir,
    )
}

#[test]
fn dummy_hash_uses_the_same_parameters() {
    let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
    let params = Params::try_from(&parsed).unwrap();
    assert_eq!(parsed.algorithm, Algorithm::Argon2id.ident());
    assert_eq!(
        (params.m_cost(), params.t_cost(), params.p_cost()),
        (ARGON2_M_KIB, ARGON2_T, ARGON2_P)
    );
    assert!(!verify("", DUMMY_HASH));
}

#[test]
fn usernames_and_passwords_are_checked() {
    for ok in ["a", "ani", "ani.s_2-x", &"a".repeat(32)] {
        assert!(check_username(ok).is_ok(), "{ok}");
    }
    for bad in ["", "Ani", "ani s", "ani@x", "ání", &"a".repeat(33), "a/b"] {
        assert!(
            matches!(check_username(bad), Err(AccountError::BadUsername(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        check_password("123456789"),
        Err(AccountError::PasswordTooShort)
    ));
    assert!(check_password("1234567890").is_ok());
    assert!(
        check_password("éééééééééé").is_ok(),
        "characters, not bytes"
    );
    assert!(matches!(
        check_password(&"x".repeat(MAX_PASSWORD + 1)),
        Err(AccountError::PasswordTooLong)
    ));
    assert_eq!(
        AccountError::PasswordTooShort.to_string(),
        "password too short: use at least 10 characters"
    );
}

#[tokio::test]
async fn add_login_authenticate_logout() {
    let (acc, clock, store, dir) = accounts("login");
    acc.add_user("ani", Role::Admin, "kelapa-muda-1", "cli")
        .unwrap();
    acc.add_user("budi", Role::Viewer, "durian-montong", "ani")
        .unwrap();
    let err = acc
        .add_user("ani", Role::Viewer, "another-password", "cli")
        .unwrap_err();
    assert_eq!(err.to_string(), "user \"ani\" already exists");
    assert_eq!(err.field(), Some("username"));
    assert!(matches!(
        acc.add_user("x", Role::Admin, "short", "cli"),
        Err(AccountError::PasswordTooShort)
    ));
    assert_eq!(
        acc.users().unwrap(),
        vec![
            UserInfo {
                username: "ani".into(),
                role: Role::Admin,
                created: 1_800_000_000
            },
            UserInfo {
                username: "budi".into(),
                role: Role::Viewer,
                created: 1_800_000_000
            },
        ]
    );
    let hash = store.user("ani").unwrap().unwrap().hash;
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    assert!(!hash.contains("kelapa"));

    assert_eq!(
        acc.login("ani", "wrong-password", PEER).await.unwrap_err(),
        LoginError::Invalid
    );
    assert_eq!(
        acc.login("nobody", "kelapa-muda-1", PEER)
            .await
            .unwrap_err(),
        LoginError::Invalid
    );
    let s = acc.login("Ani ", "kelapa-muda-1", PEER).await.unwrap();
    assert_eq!(
        s.principal.username, "ani",
        "names are compared in lower case"
    );
    assert_eq!(s.principal.role, Role::Admin);
    assert_eq!(s.expires, 1_800_000_000 + 3600);
    assert_eq!(s.token.len(), 64);
    assert_eq!(s.principal.csrf.len(), 64);
    assert_ne!(s.token, s.principal.csrf);

    let p = acc.authenticate(&s.token, Via::Cookie).unwrap();
    assert_eq!(
        p,
        Principal {
            username: "ani".into(),
            role: Role::Admin,
            csrf: s.principal.csrf.clone(),
            via: Via::Cookie
        }
    );
    assert_eq!(
        acc.authenticate(&s.token.to_uppercase().replace('A', "B"), Via::Bearer),
        None
    );
    assert_eq!(acc.authenticate("", Via::Bearer), None);
    assert_eq!(acc.authenticate(&"0".repeat(64), Via::Bearer), None);

    // The token is not what the store keeps.
    let dump = format!(
        "{:?}",
        store.admin_session(&token_hash(&s.token)).unwrap().unwrap()
    );
    assert!(!dump.contains(&s.token));

    let viewer = acc
        .login("budi", "durian-montong", OTHER_PEER)
        .await
        .unwrap();
    assert_eq!(
        acc.authenticate(&viewer.token, Via::Bearer).unwrap().role,
        Role::Viewer
    );
    assert_ne!(
        viewer.principal.csrf, s.principal.csrf,
        "each session has its own CSRF token"
    );

    acc.logout(&s.token);
    assert_eq!(acc.authenticate(&s.token, Via::Bearer), None);
    assert!(
        acc.authenticate(&viewer.token, Via::Bearer).is_some(),
        "logout ends that session only"
    );
    acc.logout("not a token");

    // Expiry.
    clock.advance(3599);
    assert!(acc.authenticate(&viewer.token, Via::Bearer).is_some());
    clock.advance(1);
    assert_eq!(acc.authenticate(&viewer.token, Via::Bearer), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sessions_survive_a_restart() {
    let (acc, clock, store, dir) = accounts("restart");
    acc.add_user("ani", Role::Admin, "kelapa-muda-1", "cli")
        .unwrap();
    let s = acc.login("ani", "kelapa-muda-1", PEER).await.unwrap();
    drop((acc, store));
    let store = crate::store::retry_lock(|| AdminStore::open(&dir)).unwrap();
    let acc = Accounts::new(store, Duration::from_secs(3600), clock);
    assert_eq!(
        acc.authenticate(&s.token, Via::Bearer).unwrap().username,
        "ani"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn passwd_and_remove_end_sessions_and_are_audited() {
    let (acc, _clock, store, dir) = accounts("passwd");
    acc.add_user("ani", Role::Admin, "kelapa-muda-1", "cli")
        .unwrap();
    acc.add_user("budi", Role::Viewer, "durian-montong", "cli")
        .unwrap();
    let s1 = acc.login("ani", "kelapa-muda-1", PEER).await.unwrap();
    let s2 = acc.login("budi", "durian-montong", PEER).await.unwrap();

    assert!(matches!(
        acc.set_password("ani", "short", "cli"),
        Err(AccountError::PasswordTooShort)
    ));
    assert!(
        acc.authenticate(&s1.token, Via::Bearer).is_some(),
        "a refused change ends nothing"
    );
    let err = acc
        .set_password("citra", "long-enough-pw", "cli")
        .unwrap_err();
    assert_eq!(err.to_string(), "no user \"citra\"");

    acc.set_password("ani", "rambutan-manis", "cli").unwrap();
    assert_eq!(
        acc.authenticate(&s1.token, Via::Bearer),
        None,
        "a new password ends the sessions"
    );
    assert!(
        acc.authenticate(&s2.token, Via::Bearer).is_some(),
        "of that user only"
    );
    assert_eq!(
        acc.login("ani", "kelapa-muda-1", PEER).await.unwrap_err(),
        LoginError::Invalid
    );
    let s3 = acc.login("ani", "rambutan-manis", PEER).await.unwrap();
    assert_eq!(
        acc.users().unwrap()[0].created,
        1_800_000_000,
        "created is kept"
    );

    // A session written under the old password (a login racing the change) is refused too.
    let stale = AdminSession {
        username: "ani".into(),
        csrf: "c".into(),
        expires: i64::MAX,
        created: 0,
        generation: 0,
    };
    let stale_token = "ab".repeat(32);
    store
        .put_admin_session(&token_hash(&stale_token), &stale)
        .unwrap();
    assert_eq!(acc.authenticate(&stale_token, Via::Bearer), None);

    acc.remove_user("budi", "ani").unwrap();
    assert_eq!(acc.authenticate(&s2.token, Via::Bearer), None);
    assert!(acc.authenticate(&s3.token, Via::Bearer).is_some());
    assert_eq!(
        acc.remove_user("budi", "ani").unwrap_err().to_string(),
        "no user \"budi\""
    );
    assert_eq!(
        acc.login("budi", "durian-montong", PEER).await.unwrap_err(),
        LoginError::Invalid
    );

    let log: Vec<(String, String, String)> = store
        .audit_log(None, 10)
        .unwrap()
        .into_iter()
        .map(|(_, e)| (e.who, e.action.as_str().to_owned(), e.target))
        .collect();
    let expect = [
        ("ani", "user.remove", "budi"),
        ("cli", "user.passwd", "ani"),
        ("cli", "user.add", "budi"),
        ("cli", "user.add", "ani"),
    ];
    assert_eq!(
        log,
        expect.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()))
    );
    let text = serde_json::to_string(
        &store
            .audit_log(None, 10)
            .unwrap()
            .into_iter()
            .map(|(_, e)| e)
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(
        !text.contains("argon2") && !text.contains("rambutan"),
        "no hash or password in the audit log: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn repeated_failures_lock_the_username_then_success_resets_it() {
    let (acc, clock, _store, dir) = accounts("lock");
    acc.add_user("ani", Role::Admin, "kelapa-muda-1", "cli")
        .unwrap();
    for _ in 0..limiter::SLOW_AFTER {
        assert_eq!(
            acc.login("ani", "wrong-password", PEER).await.unwrap_err(),
            LoginError::Invalid
        );
    }
    // Too early: refused before the password is even checked, right or not.
    assert_eq!(
        acc.login("ani", "kelapa-muda-1", OTHER_PEER)
            .await
            .unwrap_err(),
        LoginError::Locked {
            retry_after_secs: 1
        }
    );
    clock.advance(1);
    acc.login("ani", "kelapa-muda-1", OTHER_PEER).await.unwrap();
    // Success reset the username: a fresh failure does not make it wait.
    assert_eq!(
        acc.login("ani", "wrong-password", OTHER_PEER)
            .await
            .unwrap_err(),
        LoginError::Invalid
    );
    assert!(acc.login("ani", "kelapa-muda-1", OTHER_PEER).await.is_ok());

    // Ten failures in the window (waiting out each pause) lock it for 15 minutes.
    let third = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 52));
    let mut failures = 0;
    while failures < limiter::LOCK_AFTER {
        match acc.login("ani", "wrong-password", third).await {
            Err(LoginError::Invalid) => failures += 1,
            Err(LoginError::Locked { retry_after_secs }) => clock.advance(retry_after_secs as i64),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        acc.login("ani", "kelapa-muda-1", OTHER_PEER)
            .await
            .unwrap_err(),
        LoginError::Locked {
            retry_after_secs: limiter::LOCK_SECS as u64
        }
    );
    assert_eq!(
        acc.login("nobody", "x", third).await.unwrap_err(),
        LoginError::Locked {
            retry_after_secs: limiter::LOCK_SECS as u64
        },
        "the address too"
    );
    clock.advance(limiter::LOCK_SECS);
    acc.login("ani", "kelapa-muda-1", OTHER_PEER).await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn expired_sessions_are_pruned_at_the_next_login() {
    let (acc, clock, store, dir) = accounts("prune");
    acc.add_user("ani", Role::Admin, "kelapa-muda-1", "cli")
        .unwrap();
    let old = acc.login("ani", "kelapa-muda-1", PEER).await.unwrap();
    clock.advance(3600);
    let _new = acc.login("ani", "kelapa-muda-1", PEER).await.unwrap();
    assert_eq!(store.admin_session(&token_hash(&old.token)).unwrap(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_logins_is_refused_at_once_not_queued() {
    let (acc, _clock, _store, dir) = accounts("burst");
    acc.add_user("ani", Role::Admin, "kelapa-muda-1", "cli")
        .unwrap();
    // Eight logins at once from eight addresses (no per-address lock helps).
    let tries = (1..=8u8).map(|n| {
        let acc = acc.clone();
        tokio::spawn(async move {
            let peer = IpAddr::from([198, 51, 100, 100 + n]);
            acc.login("ani", "wrong-password", peer).await
        })
    });
    let mut busy = 0;
    let mut checked = 0;
    for t in tries.collect::<Vec<_>>() {
        match t.await.unwrap() {
            Err(LoginError::Locked {
                retry_after_secs: 1,
            }) => busy += 1,
            Err(LoginError::Invalid) => checked += 1,
            other => panic!("{other:?}"),
        }
    }
    assert!(checked >= 1, "at least one was checked");
    assert!(
        busy >= 1,
        "the others were refused, not queued: {busy} busy"
    );
    assert_eq!(busy + checked, 8);
    let _ = std::fs::remove_dir_all(&dir);
}
