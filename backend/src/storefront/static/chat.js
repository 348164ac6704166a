// Starts the chat widget with the buyer's signed chat token as custom data.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("chat-config").textContent);
  var WIDGET_STORAGE_VERSION = "1.0.1"; // rasa-webchat's, pinned in package-lock.json

  // rasa-webchat keeps one conversation per browser under "chat_session". The
  // chat token only works in the conversation it was issued for, so the widget
  // asks for that one: a new sign-in (or another buyer) starts a new conversation,
  // a reload continues the same one.
  var stored = null;
  try {
    stored = JSON.parse(window.localStorage.getItem("chat_session") || "null");
  } catch (error) {
    stored = null;
  }
  if (!stored || stored.session_id !== config.conversationId) {
    // A new conversation, stored as the widget itself stores one (it drops an entry
    // without its version, and takes its display state from `params`).
    window.localStorage.setItem(
      "chat_session",
      JSON.stringify({
        session_id: config.conversationId,
        version: WIDGET_STORAGE_VERSION,
        conversation: [],
        params: {
          isChatVisible: true,
          isChatOpen: false,
          initialized: false,
          disabledInput: false,
          docViewer: false,
          unreadCount: 0,
        },
      })
    );
  }
  window.localStorage.removeItem("chat_buyer"); // the conversation now says whose it is

  window.WebChat.default(
    {
      socketUrl: config.socketUrl,
      socketPath: "/socket.io/",
      customData: { chat_token: config.chatToken },
      initPayload: "/greet",
      title: "Dispute assistant",
      subtitle: "Orders, disputes and refunds",
      inputTextFieldHint: "Type a message...",
      params: { storage: "local" },
      showMessageDate: false,
      hideWhenNotConnected: false,
      connectingText: "Connecting to the assistant...",
    },
    null
  );
})();
