// The gateway's GraphiQL page (gateway/graphiql.py). No inline script, so that the page's Content-Security-Policy
// can forbid them. Headers typed in GraphiQL's Headers tab (the Authorization header) go with every request and are
// not kept after the page is closed.
"use strict";

(function () {
  const DEFAULT_QUERY = `# yiwang 一网 — one GraphQL endpoint for the city's departments.
#
# Without a token you see public data only. To sign in, open "Headers" below and paste
#   {"Authorization": "Bearer <token>"}
# with a token from your identity provider (in the demo: \`yiwang demo\` or \`yiwang token\` prints one).
# Run a query with Ctrl-Enter or the ▶ button.

{
  departments { id name healthy }
}
`;
  const root = document.getElementById("graphiql");
  if (typeof GraphiQL === "undefined" || typeof React === "undefined" || typeof ReactDOM === "undefined") {
    root.textContent = "GraphiQL's scripts did not load. Install them on the gateway with `make graphiql-assets` " +
      "(npm ci in web/graphiql); without them this browser needs access to unpkg.com.";
    return;
  }

  // The endpoint is this page's own address: it works behind a reverse proxy that adds a path prefix.
  const endpoint = window.location.href.split(/[?#]/)[0];
  // ?q=… and ?variables=… share a query by its URL (never ?query=…, which asks the endpoint to run it).
  const parameters = new URLSearchParams(window.location.search);

  function remember(name, value) {
    const current = new URLSearchParams(window.location.search);
    if (value) {
      current.set(name, value);
    } else {
      current.delete(name);
    }
    const search = current.toString();
    window.history.replaceState(null, "", search ? "?" + search : window.location.pathname);
  }

  ReactDOM.createRoot(root).render(React.createElement(GraphiQL, {
    fetcher: GraphiQL.createFetcher({ url: endpoint }),
    defaultQuery: DEFAULT_QUERY,
    query: parameters.get("q") || undefined,
    variables: parameters.get("variables") || undefined,
    onEditQuery: (query) => remember("q", query),
    onEditVariables: (variables) => remember("variables", variables),
    isHeadersEditorEnabled: true,
    shouldPersistHeaders: false,
    defaultEditorToolsVisibility: true,
    inputValueDeprecation: true,
  }));
})();
