// Shapes of the VK Teams Bot API v1 (INTEGRATIONS.md §1.4, §1.6). All ids are strings.

export type ButtonStyle = 'base' | 'primary' | 'attention';

/** An inline keyboard button: exactly one of callbackData or url. */
export type Button =
  | { text: string; callbackData: string; url?: never; style?: ButtonStyle }
  | { text: string; url: string; callbackData?: never; style?: ButtonStyle };

export interface BotInfo { userId: string; nick?: string; firstName?: string; about?: string }

export interface BotUser { userId: string; firstName?: string; lastName?: string; nick?: string }

export interface BotChat { chatId: string; type: 'private' | 'group' | 'channel'; title?: string }

export interface BotMessageRef {
  msgId: string;
  text?: string;
  timestamp?: number;
  chat?: BotChat;
  from?: BotUser;
  parts?: unknown[];
}

export interface NewMessageEvent {
  eventId: number;
  type: 'newMessage';
  payload: BotMessageRef & { text: string; chat: BotChat; from: BotUser };
}

export interface CallbackQueryEvent {
  eventId: number;
  type: 'callbackQuery';
  payload: {
    queryId: string;
    callbackData: string;
    /** The presser. */
    from: BotUser;
    /** The chat of the message carrying the button (use with message.msgId for editText). */
    chat: BotChat;
    /** The bot's message that carries the button. */
    message: BotMessageRef;
  };
}

/** Any other event type (editedMessage, deletedMessage, newChatMembers, ...), untyped. */
export interface OtherEvent {
  eventId: number;
  type: 'other';
  originalType: string;
  payload: Record<string, unknown>;
}

export type BotEvent = NewMessageEvent | CallbackQueryEvent | OtherEvent;
