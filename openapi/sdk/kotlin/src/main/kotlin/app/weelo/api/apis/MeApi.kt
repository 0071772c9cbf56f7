package app.weelo.api.apis

import app.weelo.api.infrastructure.CollectionFormats.*
import retrofit2.http.*
import retrofit2.Response
import okhttp3.RequestBody
import com.squareup.moshi.Json

import app.weelo.api.models.Problem
import app.weelo.api.models.UserBody

interface MeApi {
    /**
     * GET v1/me
     * The signed-in user.
     * 
     * Responses:
     *  - 200: 
     *  - 401: UNAUTHORIZED: missing, invalid, expired or signed-out access token
     *  - 404: USER_NOT_FOUND: the account no longer exists
     *  - 500: INTERNAL: an unexpected error (logged with the request id)
     *  - 503: DEPENDENCY_UNAVAILABLE: Redis is unavailable
     *
     * @return [UserBody]
     */
    @GET("v1/me")
    suspend fun getMe(): Response<UserBody>

}
