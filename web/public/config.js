// Default runtime settings for a static server; chatplane-api replaces this file with its own
// (WEB_API_URL, WEB_AUTH_URL). Empty values mean "this page's origin".
window.CHATPLANE_CONFIG = window.CHATPLANE_CONFIG || {};
