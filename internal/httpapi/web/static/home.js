// RoleCall home page of `rolecall serve`: the partner's name, and the demo
// tenant's form for a browser on this machine. Vanilla JavaScript, no build
// step; page.js comes first.
'use strict';
(function () {
  RoleCall.site().then(function (s) {
    var local = s.local || {};
    RoleCall.fill(Object.assign({ partnerName: s.partnerName }, local));
    if (local.demoInviteUrl) RoleCall.$('home-form').href = RoleCall.safeURL(local.demoInviteUrl);
  });
})();
