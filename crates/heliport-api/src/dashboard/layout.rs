//! The page shell: head, navigation, the signed-in key and the sign-out
//! button.

use maud::{html, Markup, DOCTYPE};

use super::auth::Viewer;

const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/requests", "Requests"),
    ("/live", "Live"),
    ("/users", "Users"),
    ("/sessions", "Sessions"),
    ("/properties", "Properties"),
    ("/prompts", "Prompts"),
];

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            meta name="color-scheme" content="light dark";
            title { (title) " · heliport" }
            link rel="stylesheet" href=(super::assets::CSS_PATH);
            script src=(super::assets::JS_PATH) defer {}
        }
    }
}

/// A page without navigation (sign-in, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body { (body) }
        }
    }
}

/// A signed-in page: navigation with `active` marked, then `body`.
pub fn page(viewer: &Viewer, active: &str, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title))
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "heliport" }
                    nav aria-label="Dashboard" {
                        @for (href, label) in NAV {
                            @if *href == active {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                        @if viewer.can_write {
                            @if active == "/keys" {
                                a href="/keys" aria-current="page" { "Keys" }
                            } @else {
                                a href="/keys" { "Keys" }
                            }
                        }
                    }
                    div.who {
                        span.muted title="The key this browser signed in with" {
                            (viewer.key_name) " · " code { (viewer.key_prefix) "…" }
                        }
                        form method="post" action="/signout" {
                            input type="hidden" name="csrf" value=(viewer.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}
