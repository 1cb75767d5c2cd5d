// The auth routes of the REST API (/v1/auth/*, /v1/keys, /v1/users, grants, /v1/audit):
// handlers over the Authenticator, listed in RestApi's route table. See docs/auth.md.
#pragma once

#include "net/api/rest_api.h"

namespace vectron::net::api {

// Each takes the request and the caller (already authenticated and authorised for the
// route by the table) and returns the response; errors are thrown as ApiError.
HttpResponse Login(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse Refresh(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse Me(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ChangePassword(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse LogoutEverywhere(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse CreateKey(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListKeys(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RevokeKey(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse CreateUser(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListUsers(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse DeleteUser(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse GetGrants(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse SetGrant(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RevokeGrant(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ReadAudit(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse ListSigningKeys(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RotateSigningKey(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);
HttpResponse RetireSigningKey(RestApi& api, const HttpRequest& req, const PathParams& p, const Principal& who);

}  // namespace vectron::net::api
