// The auth routes of the REST API (/v1/auth/*, /v1/keys, /v1/users, grants, /v1/audit):
// handlers over the Authenticator and their route table (AuthRoutes), served by
// `vectron serve`'s RestApi and by a cluster gateway (net/daemon/gateway_api.h) alike.
// See docs/auth.md.
#pragma once

#include "net/api/rest_api.h"

namespace vectron::net::api {

// Each takes the request and the caller (already authenticated and authorised for the
// route by the table) and returns the response; errors are thrown as ApiError.
using AuthFn = RestApi::AuthFn;
HttpResponse Login(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse Refresh(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse Me(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ChangePassword(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse LogoutEverywhere(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse CreateKey(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListKeys(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RevokeKey(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse CreateUser(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListUsers(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse DeleteUser(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse GetGrants(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse SetGrant(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RevokeGrant(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ReadAudit(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListSigningKeys(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RotateSigningKey(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RetireSigningKey(Authenticator& auth, const HttpRequest& req, const PathParams& p, const Principal& who);

// One auth route: what it serves and the token it needs. Every auth route takes a small
// body (kSmallBodyBytes) and runs off the event loop (password hashing, store commits).
struct AuthRoute {
  const char* method;
  const char* pattern;
  AuthFn fn;
  RouteAccess access;
};
const std::vector<AuthRoute>& AuthRoutes();

// Runs `fn`, turning what it throws (ApiError, bad JSON values, out of memory) into the
// error response.
HttpResponse RunAuthRoute(AuthFn fn, Authenticator& auth, const HttpRequest& req, const PathParams& params,
                          const Principal& who);

}  // namespace vectron::net::api
